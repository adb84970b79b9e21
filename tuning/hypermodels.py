"""One `keras_tuner.HyperModel` per app, each calling that app's model registry.

No model is defined here: `build(hp)` picks tunable keyword arguments (depth,
filters/width, kernel size, dropout, batch norm on/off, activation) and calls
the task's registry builder (`tfdl.<task>.model.MODELS.build`), then compiles it
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
from tfdl.registry import Registry
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
        from tfdl.digits.model import MODELS

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
        from tfdl.digits.model import adapt

        adapt(model, train_ds)

    def load_data(self):
        from tfdl.augment import time_shift
        from tfdl.digits import data as fsdd
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


# --------------------------------------------------------------------------- keywords
if _has("tfdl.keywords.model"):

    @APPS.register("keywords")
    class KeywordsHyperModel(AppHyperModel):
        """Keyword spotting (Speech Commands layout): the DS-CNN and the reference CNN.

        Search space: family "ds_cnn" (filters, depth 1-5 blocks, depthwise
        kernel 3/5) or "cnn" (1-3 conv layers of tunable filters, kernel 3/5,
        one dense layer of tunable width); dropout, batch norm on/off,
        optimiser, learning rate. (The keywords builders take no `activation`
        argument: ReLU is fixed.) Data, augmentation and export are the app's
        own (`tfdl.keywords.data`, `tfdl.keywords.train`): trials train on the
        training split with its augmentation and are scored on the validation
        list; the final model is retrained on the training split and tested
        once on the testing list.
        """

        app = "keywords"
        default_batch_size = 64
        size_hps = ("filters", "depth", "kernel_size", "batchnorm", "cnn_filters", "cnn_layers",
                    "cnn_kernel_size", "dense_units")

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            from tfdl.keywords.config import Config

            # held_out_noise=(): every noise file trains, as before the named configs.
            self.cfg = Config(batch_size=self.batch_size, seed=self.seed, epochs=self.epochs,
                              held_out_noise=()).validate()
            self.num_classes = len(self.cfg.wanted_words) + 2  # + silence, unknown

        def branches(self):
            return {"family": ["ds_cnn", "cnn"]}

        def build_model(self, hp):
            from tfdl.keywords.model import MODELS

            family = hp.Choice("family", ["ds_cnn", "cnn"])
            common = dict(dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
                          batchnorm=hp.Boolean("batchnorm", default=True),
                          activation=hp.Choice("activation", list(ACTIVATIONS)))
            if family == "ds_cnn":
                with hp.conditional_scope("family", ["ds_cnn"]):
                    kw = dict(filters=hp.Choice("filters", [16, 24, 32, 48, 64]),
                              depth=hp.Int("depth", 1, 5),
                              kernel_size=hp.Choice("kernel_size", [3, 5]))
            else:
                with hp.conditional_scope("family", ["cnn"]):
                    f = hp.Choice("cnn_filters", [8, 16, 32])
                    kw = dict(filters=(f,) * hp.Int("cnn_layers", 1, 3),
                              kernel_size=hp.Choice("cnn_kernel_size", [3, 5]),
                              dense_units=(hp.Choice("dense_units", [32, 64, 128]),))
            return MODELS.build(family, num_classes=self.num_classes, **self.cfg.front_end(),
                                **common, **kw)

        def load_data(self):
            import math

            from tfdl.keywords import corpus as sc
            from tfdl.keywords import data as kw

            data = kw.prepare(self.cfg, self.data_dir)
            tr, va, te = (data.splits[s] for s in sc.SPLITS)
            bank = kw.noise_bank(data.train_noise, self.cfg.clip_samples)
            train = kw.train_dataset(tr, self.cfg, bank)
            steps = math.ceil(len(tr) / self.batch_size)
            return Data(train=train, val=kw.eval_dataset(va.waves, va.labels),
                        test=kw.eval_dataset(te.waves, te.labels), final_train=train,
                        labels=tuple(data.corpus.labels), steps_per_epoch=steps,
                        final_steps_per_epoch=steps,
                        description=f"Speech Commands lists: search on training ({len(tr)}) / "
                                    f"validation ({len(va)}); final model on training, "
                                    f"testing ({len(te)}) once")

        def export(self, model, export_dir, hp=None):
            from tfdl.keywords import train as kw

            return kw.save_export(model, export_dir, list(self.setup().labels), self.cfg)


# --------------------------------------------------------------------------- phonemes
if _has("tfdl.phonemes.data"):

    @APPS.register("phonemes")
    class PhonemesHyperModel(AppHyperModel):
        """Frame-level phoneme classification: the reference MLP and the residual MLPs.

        Search space: family "mlp" (activation tunable), "resnet_basic" or
        "resnet_bottleneck"; width, depth, dropout, context (frames on each
        side, stride 3 as the app), optimiser, learning rate. (The phonemes
        builders have batch norm always on and no switch for it; only `mlp`
        takes `activation`.) Data and export are the app's own: utterance-level
        split (`split_utterances`: 50 test, 25 validation), trials scored on the
        validation frames, final model tested once on the test frames and
        exported with `export_utterance_model` (a whole utterance of raw MFCC in).
        """

        app = "phonemes"
        default_batch_size = 512
        stride = 3
        contexts = (3, 5, 10, 15)
        frames_per_epoch = 100_000
        size_hps = ("width", "depth", "context", "batchnorm")

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._corpus = None

        def branches(self):
            return {"family": ["mlp", "resnet_basic", "resnet_bottleneck"]}

        def corpus(self):
            from tfdl.phonemes import data as ph
            from tfdl.phonemes.labels import check_vocabulary

            if self._corpus is None:
                corpus = ph.load_corpus(ph.find(self.data_dir))
                phones = corpus.phone_set()
                self._corpus = (corpus, phones, check_vocabulary(corpus, phones))
            return self._corpus

        def build_model(self, hp):
            from tfdl.phonemes.model import MODELS

            corpus, phones, _ = self.corpus()
            family = hp.Choice("family", ["mlp", "resnet_basic", "resnet_bottleneck"])
            kw = dict(width=hp.Choice("width", [64, 128, 256, 512]), depth=hp.Int("depth", 1, 4),
                      dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
                      context=hp.Choice("context", list(self.contexts)),
                      batchnorm=hp.Boolean("batchnorm", default=True),
                      activation=hp.Choice("activation", ["gelu", "relu", "swish"]))
            return MODELS.build(family, num_classes=len(phones),
                                num_features=corpus.num_features, **kw)

        def load_data(self):
            from tfdl.phonemes import data as ph
            from tfdl.phonemes import frames

            corpus, phones, index = self.corpus()
            split = ph.split_utterances(len(corpus.utterances), 50, 25, self.seed)
            pad = max(self.contexts) * self.stride
            self.sets = {k: frames.pack([corpus.utterances[i] for i in v], index, pad)
                         for k, v in split.items()}
            steps = max(1, min(self.frames_per_epoch, len(self.sets["train"])) // self.batch_size)
            return Data(train=None, val=None, test=None, final_train=None, labels=tuple(phones),
                        steps_per_epoch=steps, final_steps_per_epoch=steps,
                        description=f"{len(corpus.utterances)} utterances: search on train "
                                    f"({len(split['train'])}) / val ({len(split['val'])}); "
                                    f"final model tested once on test ({len(split['test'])}); "
                                    f"{self.frames_per_epoch} frames per epoch")

        def _datasets(self, hp, final=False):
            from tfdl.phonemes import frames as ph

            context = hp.get("context")
            train = ph.frame_dataset(self.sets["train"], context, self.stride, self.batch_size,
                                     training=True, seed=self.seed)
            val = None if final else ph.frame_dataset(self.sets["val"], context, self.stride,
                                                      4 * self.batch_size)
            return train, val

        def fit(self, hp, model, *args, **kwargs):
            # The context window is a hyperparameter, so each trial makes its own windows.
            train, val = self._datasets(hp)
            kwargs.pop("validation_data", None)
            return model.fit(train, validation_data=val,
                             steps_per_epoch=self.setup().steps_per_epoch, **kwargs)

        def final_fit(self, model, hp, workdir, epochs, verbose="auto"):
            from tfdl.train import fit

            data = self.setup()
            train, _ = self._datasets(hp, final=True)
            return fit(model, train, None, workdir=workdir, epochs=epochs,
                       batch_size=self.batch_size, monitor=self.metric_name, backup=False,
                       steps_per_epoch=data.final_steps_per_epoch, verbose=verbose)

        def predict_test(self, model, hp):
            from tfdl.phonemes.train import predict

            test = self.sets["test"]
            return test.labels, predict(model, test, hp.get("context"), self.stride).argmax(1)

        def export(self, model, export_dir, hp=None):
            from tfdl.phonemes.serve import export_utterance_model

            corpus, phones, _ = self.corpus()
            return export_utterance_model([model], [1.0], export_dir, phones, hp.get("context"),
                                          self.stride, corpus.num_features)
