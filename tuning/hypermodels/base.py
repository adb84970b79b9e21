"""The base `keras_tuner.HyperModel` of every app: compile, fit, count, shrink and export.

`AppHyperModel` wraps an app's registry builder (subclasses in this package,
one module per app); `APPS` maps `--app` names to them; `Data` is an app's
batched splits for a search.
"""

import dataclasses

import keras
import keras_tuner

from tfdl.registry import Registry
from tfdl.train import make_optimizer

APPS = Registry("tuning app")

OPTIMIZERS = ("adam", "nadam", "rmsprop")
ACTIVATIONS = ("relu", "gelu", "swish")


def common_hps(hp):
    """The hyperparameters every family of the digits and keywords searches shares: dropout,
    batch norm and activation (builder kwargs)."""
    return dict(dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
                batchnorm=hp.Boolean("batchnorm", default=True),
                activation=hp.Choice("activation", list(ACTIVATIONS)))


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
    default_batch_size = 32
    bn_momentum = 0.9
    # Hyperparameters that change the parameter count, each monotone (a larger
    # value never gives fewer parameters); `--max_params` moves them down.
    size_hps = ()
    objective = keras_tuner.Objective("val_accuracy", "max")
    metric_name = "accuracy"

    def __init__(self, data_dir=None, batch_size=None, seed=0, epochs=5):
        super().__init__(name=self.app, tunable=True)
        self.data_dir = data_dir
        self.batch_size = batch_size or self.default_batch_size
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
        for layer in model.layers:
            # Trials are a few hundred steps: with Keras' default momentum (0.99) the
            # moving statistics still lag the fast-changing activations at the end,
            # and inference (moving statistics) scores at chance while training
            # (batch statistics) is fine. 0.9 is PyTorch's default (momentum=0.1),
            # which the course reference uses.
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = self.bn_momentum
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

    def final_fit(self, model, hp, workdir, epochs, verbose="auto"):
        """Retrains `model` (built from `hp`) on the final training data; returns the history."""
        from tfdl.train import fit

        data = self.setup()
        self.prepare(model, data.train)
        return fit(model, data.final_train, None, workdir=workdir, epochs=epochs,
                   batch_size=self.batch_size, monitor=self.metric_name, backup=False,
                   verbose=verbose)

    def predict_test(self, model, hp):
        """(true labels, predicted labels) on the app's test split."""
        import numpy as np

        y_true, y_pred = [], []
        for x, y in self.setup().test:
            y_true.append(np.asarray(y))
            y_pred.append(np.argmax(model(x, training=False), axis=-1))
        return np.concatenate(y_true), np.concatenate(y_pred)

    def export(self, model, export_dir, hp=None):
        """Exports like the app: a SavedModel that takes raw waveforms."""
        from tfdl.export import export_classifier

        return export_classifier(model, export_dir, list(self.setup().labels))


def _options(p):
    """Ordered values of a size hyperparameter, smallest first."""
    if isinstance(p, keras_tuner.engine.hyperparameters.Boolean):
        return [False, True]
    if isinstance(p, keras_tuner.engine.hyperparameters.Choice):
        return sorted(p.values)
    return list(p.values) if hasattr(p, "values") else [p.min_value, p.max_value]
