"""The runs of the four vision apps: one dataclass each, checked once.

Every field is a complete setting (no `None` filled in later): the named
recipes in `configs.py` set them, and the command line overrides them one by
one (`--config.epochs=5`). The data fields every app shares come first
(`DataConfig`).
"""

import dataclasses

from tfdl import config as C

STUDIES = ("optimization", "dropout", "both")


def _check_count(cfg, *fields):
    """Each field must be an integer >= 0."""
    for name in fields:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            C.fail(name, "an integer >= 0", v)


def _check_fractions(cfg, *fields):
    """Each field must be in [0, 1) (0: off)."""
    for name in fields:
        C.check_range(cfg, name, 0.0, 1.0)


@dataclasses.dataclass
class DataConfig:
    """The data fields of every vision app.

    Attributes:
        test_fraction: test share when the data folder holds a single IDX pair
            (the offline 10k set: 8k/2k), split stratified by class.
        train_size, test_size: use only this many training / test images
            (stratified; 0: all). For quick and smoke runs.
        seed: the seed of the split, the subsets, the weights and the shuffling.
    """

    test_fraction: float = 0.2
    train_size: int = 0
    test_size: int = 0
    seed: int = 0

    def _validate_data(self):
        C.check_range(self, "test_fraction", 0.0, 1.0, low_open=True)
        _check_count(self, "train_size", "test_size", "seed")


@dataclasses.dataclass
class MNISTConfig(DataConfig):
    """One MNIST MLP run (`python -m apps.mnist`).

    Attributes:
        depth, width: hidden layers and units per layer.
        activation: hidden activation (`tfdl.vision.model.ACTIVATIONS`).
        initializer: normal (N(0, 0.01)), xavier (Glorot uniform) or he (He normal).
        dropout: rate on the input of every layer after the first hidden one.
        input_dropout: rate on the input pixels.
        shift: training-only random shift (fraction of the image; 0: off).
        optimizer, learning_rate, schedule, epochs, batch_size: training (the
            schedule decays over all `epochs`; early stopping may end sooner).
        patience: early-stopping patience in epochs (0: none).
        val_fraction: validation share of the training split (best checkpoint,
            early stopping).
        tsne: draw tsne.png (about 10 s of CPU per layer) besides pca.png.
        steps_per_epoch: cap on steps per epoch (0: a full pass; smoke runs).
    """

    depth: int = 5
    width: int = 1024
    activation: str = "relu"
    initializer: str = "he"
    dropout: float = 0.3
    input_dropout: float = 0.2
    shift: float = 0.1
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    epochs: int = 40
    batch_size: int = 128
    patience: int = 10
    val_fraction: float = 0.1
    tsne: bool = True
    steps_per_epoch: int = 0

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        from tfdl.train import OPTIMIZERS, SCHEDULES
        from tfdl.vision.model import ACTIVATIONS, INITIALIZERS

        self._validate_data()
        C.check_positive(self, "depth", "width", "epochs", "batch_size", integer=True)
        C.check_positive(self, "learning_rate")
        _check_count(self, "patience", "steps_per_epoch")
        _check_fractions(self, "dropout", "input_dropout", "shift")
        C.check_range(self, "val_fraction", 0.0, 1.0, low_open=True)
        C.check_choice(self, "activation", ACTIVATIONS)
        C.check_choice(self, "initializer", INITIALIZERS)
        C.check_choice(self, "optimizer", OPTIMIZERS)
        C.check_choice(self, "schedule", SCHEDULES)
        return self


@dataclasses.dataclass
class NotMNISTConfig(DataConfig):
    """One notMNIST CNN ensemble run (`python -m apps.notmnist`).

    Attributes:
        ensemble: CNNs trained (member i with seed + i) and averaged.
        filters: channels of each conv block (two 3x3 convs and a max-pool each).
        dense: units of the fully connected layer.
        dropout, conv_dropout: dropout before the output layer / after each block.
        l2: L2 penalty on every kernel.
        shift, rotation: training-only random shift (fraction of the image) and
            rotation (fraction of a full turn: 0.04 is about +-14 degrees); 0: off.
        learning_rate, schedule, epochs, batch_size: Nadam training of each member.
        patience: early-stopping patience in epochs (0: none).
        val_fraction: validation share of the training split.
        steps_per_epoch: cap on steps per epoch (0: a full pass; smoke runs).
    """

    ensemble: int = 5
    filters: tuple = (16, 32)
    dense: int = 256
    dropout: float = 0.4
    conv_dropout: float = 0.1
    l2: float = 1e-4
    shift: float = 0.1
    rotation: float = 0.04
    learning_rate: float = 2e-3
    schedule: str = "cosine"
    epochs: int = 20
    batch_size: int = 128
    patience: int = 10
    val_fraction: float = 0.1
    steps_per_epoch: int = 0

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        from tfdl.train import SCHEDULES

        self._validate_data()
        C.check_positive(self, "ensemble", "dense", "epochs", "batch_size", integer=True)
        C.check_positive(self, "learning_rate")
        _check_count(self, "patience", "steps_per_epoch")
        self.filters = C.as_tuple(self, "filters", int)
        if not self.filters or any(f <= 0 for f in self.filters):
            C.fail("filters", "positive integers, one per block", self.filters)
        _check_fractions(self, "dropout", "conv_dropout", "l2", "shift", "rotation")
        C.check_range(self, "val_fraction", 0.0, 1.0, low_open=True)
        C.check_choice(self, "schedule", SCHEDULES)
        return self


@dataclasses.dataclass
class OptimizationConfig(DataConfig):
    """The optimisation and dropout studies (`python -m apps.optimization`).

    Attributes:
        study: optimization (five initialiser x activation set-ups, plain SGD
            and Adam), dropout (four set-ups with and without dropout, Adam),
            or both.
        depth: hidden layers (both studies).
        width: units per hidden layer in the optimisation study (the reference: 512).
        dropout_width: the same in the dropout study (the reference: 1024).
        epochs: epochs of every run (both studies).
        batch_size: the batch of every run.
        sgd_learning_rate: plain SGD's (the reference fixes 1.0).
        adam_learning_rate: Adam's, in both studies.
    """

    study: str = "both"
    depth: int = 5
    width: int = 512
    dropout_width: int = 1024
    epochs: int = 20
    batch_size: int = 128
    sgd_learning_rate: float = 1.0
    adam_learning_rate: float = 1e-3

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        self._validate_data()
        C.check_choice(self, "study", STUDIES)
        C.check_positive(self, "depth", "width", "dropout_width", "epochs", "batch_size",
                         integer=True)
        C.check_positive(self, "sgd_learning_rate", "adam_learning_rate")
        return self


@dataclasses.dataclass
class BackpropConfig(DataConfig):
    """The NumPy MLP against its Keras twin (`python -m apps.backprop`).

    `seed` also seeds the shared initial weights (Glorot uniform, zero biases).

    Attributes:
        epochs, batch_size: the same for NumPy and Keras.
        learning_rate: plain SGD's (NumPy and Keras SGD).
        rmsprop_learning_rate: the Keras RMSprop twin's.
    """

    epochs: int = 50
    batch_size: int = 100
    learning_rate: float = 0.05
    rmsprop_learning_rate: float = 1e-3

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        self._validate_data()
        C.check_positive(self, "epochs", "batch_size", integer=True)
        C.check_positive(self, "learning_rate", "rmsprop_learning_rate")
        return self
