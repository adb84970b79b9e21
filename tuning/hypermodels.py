"""One `keras_tuner.HyperModel` per app, each calling that app's model registry.

No model is defined here: `build(hp)` picks tunable keyword arguments (depth,
filters/width, kernel size, dropout, batch norm on/off, activation) and calls
the app's registry builder (`tfdl.models.<app>.MODELS.build`), then compiles it
with a tunable optimiser and learning rate (`tfdl.train.make_optimizer`).

Each HyperModel also knows its app's data (`load_data`: the app's own dataset
module and `tfdl.pipeline`), its search objective, and how to export a model
like the app does (`tfdl.export.export_classifier`). `APPS` maps `--app` names
to HyperModel classes; apps whose model registry is not in the tree are not
listed.
"""

import dataclasses
import importlib.util

import keras
import keras_tuner

from tfdl.errors import InputError
from tfdl.models.registry import Registry
from tfdl.train import make_optimizer

APPS = Registry("tuning app")

OPTIMIZERS = ("adam", "nadam", "rmsprop")
ACTIVATIONS = ("relu", "gelu", "swish")


def trainable_params(model):
    """Trainable scalars (what keras-tuner's `max_model_size` counts)."""
    return int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))


@dataclasses.dataclass
class Data:
    """An app's batched datasets for a search.

    Attributes:
        train: training split of the search (no augmentation).
        val: validation split the search scores trials on (never the test set).
        test: the app's test split (used once, for the final model).
        final_train: what the final model is retrained on (train + val).
        labels: class names, index-aligned with the model outputs.
        steps_per_epoch: batches per epoch of `train`.
        final_steps_per_epoch: batches per epoch of `final_train`.
        description: one line saying what the splits are.
    """

    train: object
    val: object
    test: object
    final_train: object
    labels: tuple
    steps_per_epoch: int
    final_steps_per_epoch: int
    description: str = ""


class AppHyperModel(keras_tuner.HyperModel):
    """Base class: compile, fit and export around an app's registry builder.

    Subclasses implement `build_model(hp)` (uncompiled model from the app's
    registry), `load_data()` and, if the app needs it, `prepare(model, data)`
    (e.g. adapting normalisation layers on the training split).

    Args:
        data_dir: the app's `--data_dir` (None: the app's default search).
        batch_size: examples per batch.
        seed: shuffle seed.
        epochs: epochs per trial (sets the learning-rate schedule).
    """

    app = None
    # Hyperparameters that change the parameter count, each monotone (a larger
    # value never gives fewer parameters); `--max_params` moves them down.
    size_hps = ()
    objective = keras_tuner.Objective("val_accuracy", "max")
    metric_name = "accuracy"

    def __init__(self, data_dir=None, batch_size=32, seed=0, epochs=5):
        super().__init__(name=self.app, tunable=True)
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.seed = seed
        self.epochs = epochs
        self.decay_steps = None  # Set by `setup` (steps per epoch x epochs).
        self.data = None
        self._counts = {}
        self._active = {}

    # -- what subclasses provide -------------------------------------------------
    def build_model(self, hp):
        """Declares the tunable architecture in `hp`; returns the uncompiled registry model."""
        raise NotImplementedError

    def load_data(self):
        """Returns the app's `Data`."""
        raise NotImplementedError

    def prepare(self, model, train_ds):
        """Called before fitting (e.g. to adapt normalisation layers on training data)."""

    # -- keras-tuner interface ---------------------------------------------------
    def build(self, hp):
        model = self.build_model(hp)
        optimizer = hp.Choice("optimizer", list(OPTIMIZERS))
        lr = hp.Float("learning_rate", 3e-4, 1e-2, sampling="log")
        decay = self.decay_steps
        model.compile(optimizer=make_optimizer(optimizer, lr, "cosine" if decay else "constant",
                                               decay_steps=decay),
                      loss="sparse_categorical_crossentropy", metrics=[self.metric_name])
        return model

    def fit(self, hp, model, *args, **kwargs):
        train = args[0] if args else kwargs.get("x")
        self.prepare(model, train)
        return model.fit(*args, **kwargs)

    # -- helpers for the search ----------------------------------------------------
    def setup(self):
        """Loads the data once and sets the per-trial learning-rate schedule."""
        if self.data is None:
            self.data = self.load_data()
            self.decay_steps = self.data.steps_per_epoch * self.epochs
        return self.data

    def count(self, values):
        """Trainable parameters of the architecture `values` describes (built, never trained).

        Only the `size_hps` (and branch choices) matter, so counts are cached on them.
        """
        keys = set(self.size_hps) | set(self.branches())
        key = tuple(sorted((k, v) for k, v in values.items() if k in keys))
        if key not in self._counts:
            hp = keras_tuner.HyperParameters()
            hp.values.update(values)
            self._counts[key] = trainable_params(self.build_model(hp))
        return self._counts[key]

    def branches(self):
        """{choice name: values} of choices that switch conditional hyperparameters."""
        return {}

    def active_size_hps(self, values):
        """The size hyperparameters the architecture `values` uses (declared objects)."""
        key = tuple(sorted((k, values.get(k)) for k in self.branches()))
        if key not in self._active:
            hp = keras_tuner.HyperParameters()
            hp.values.update(dict(key))
            self.build_model(hp)
            self._active[key] = [p for p in hp.space if p.name in self.size_hps and
                                 hp.is_active(p)]
        return self._active[key]

    def smallest(self):
        """(trainable params, values) of the smallest architecture in the space.

        Every size hyperparameter at its smallest value, in each branch.
        """
        best = None
        branches = self.branches()
        combos = [{}] if not branches else [{k: v} for k, vs in branches.items() for v in vs]
        for fixed in combos:
            values = dict(fixed)
            for p in self.active_size_hps(values):
                values[p.name] = _options(p)[0]
            n = self.count(values)
            if best is None or n < best[0]:
                best = (n, values)
        return best

    def shrink(self, values, max_params, rng):
        """Moves size hyperparameters of `values` down one notch at a time (a random one
        each step) until the architecture has at most `max_params` parameters.

        Returns:
            (values, params), or (None, params) if every size hyperparameter is at
            its minimum and the model is still too big.
        """
        values = dict(values)
        n = self.count(values)
        while n > max_params:
            movable = []
            for p in self.active_size_hps(values):
                opts = _options(p)
                i = opts.index(values[p.name]) if values.get(p.name) in opts else 0
                if i > 0:
                    movable.append((p.name, opts[i - 1]))
            if not movable:
                return None, n
            name, value = movable[rng.randrange(len(movable))]
            values[name] = value
            n = self.count(values)
        return values, n

    def export(self, model, export_dir):
        """Exports like the app: a SavedModel that takes raw waveforms."""
        from tfdl.export import export_classifier

        return export_classifier(model, export_dir, list(self.data.labels))


def _options(p):
    """Ordered values of a size hyperparameter, smallest first."""
    if isinstance(p, keras_tuner.engine.hyperparameters.Boolean):
        return [False, True]
    if isinstance(p, keras_tuner.engine.hyperparameters.Choice):
        return sorted(p.values)
    return list(p.values) if hasattr(p, "values") else [p.min_value, p.max_value]


def _has(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# --------------------------------------------------------------------------- digits
@APPS.register("digits")
class DigitsHyperModel(AppHyperModel):
    """Spoken digits (FSDD): the `compact` log-mel CNN and the reference `mfcc` CNN.

    Search space:
        family: "compact" (depth 2-5 blocks, first-block filters, kernel 3/5)
            or "mfcc" (three conv layers of f/2f/4f filters, 1-2 dense layers
            of tunable width);
        dropout 0-0.5, batch norm on/off, activation, optimiser, learning rate.

    Splits: the official split's training takes (5-49) are divided into
    search-train (takes 10-49) and search-validation (takes 5-9); the final
    model is retrained on takes 5-49 and tested once on the official test
    takes 0-4, so the test set never guides the search.
    """

    app = "digits"
    size_hps = ("filters", "depth", "kernel_size", "batchnorm", "mfcc_filters", "dense_units",
                "dense_layers")
    length = 8000  # 1 s at 8 kHz: the batches' length; each model pads/trims itself.
    validation_takes = range(5, 10)

    def branches(self):
        return {"family": ["compact", "mfcc"]}

    def build_model(self, hp):
        from tfdl.models.digits import MODELS

        family = hp.Choice("family", ["compact", "mfcc"])
        common = dict(dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
                      batchnorm=hp.Boolean("batchnorm", default=True),
                      activation=hp.Choice("activation", list(ACTIVATIONS)))
        if family == "compact":
            with hp.conditional_scope("family", ["compact"]):
                kw = dict(filters=hp.Choice("filters", [8, 12, 16, 24, 32]),
                          depth=hp.Int("depth", 2, 5),
                          kernel_size=hp.Choice("kernel_size", [3, 5]))
        else:
            with hp.conditional_scope("family", ["mfcc"]):
                f = hp.Choice("mfcc_filters", [4, 8, 12, 16])
                width = hp.Choice("dense_units", [16, 32, 64, 128])
                layers = hp.Int("dense_layers", 1, 2)
                kw = dict(filters=(f, 2 * f, 4 * f), dense=(width,) * layers)
        return MODELS.build(family, num_classes=10, **common, **kw)

    def prepare(self, model, train_ds):
        from tfdl.models.digits import adapt

        adapt(model, train_ds)

    def load_data(self):
        from tfdl.augment import time_shift
        from tfdl.datasets import fsdd
        from tfdl.pipeline import waveform_dataset

        recs = fsdd.load(self.data_dir)
        train, test = fsdd.split(recs, "official")
        val = [r for r in train if r.take in self.validation_takes]
        search_train = [r for r in train if r.take not in self.validation_takes]
        if not val or not search_train:
            raise InputError(f"FSDD data in {fsdd.find(self.data_dir)} needs training takes "
                             f"5-9 (search validation) and 10-49 (search training)")

        def ds(recs, training, augment=None):
            paths, labels = fsdd.paths_and_labels(recs)
            return waveform_dataset(paths, labels, sample_rate=fsdd.SAMPLE_RATE,
                                    length=self.length, batch_size=self.batch_size,
                                    training=training, seed=self.seed, augment=augment)

        steps = -(-len(search_train) // self.batch_size)
        return Data(train=ds(search_train, True), val=ds(val, False), test=ds(test, False),
                    final_train=ds(train, True, lambda x: time_shift(x, 800)),
                    labels=fsdd.LABELS, steps_per_epoch=steps,
                    final_steps_per_epoch=-(-len(train) // self.batch_size),
                    description=f"FSDD official split: search on takes 10-49 "
                                f"({len(search_train)}) / validation takes 5-9 ({len(val)}); "
                                f"final model on takes 5-49 ({len(train)}), "
                                f"test takes 0-4 ({len(test)})")
