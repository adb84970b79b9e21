"""The keyword-spotting run: one dataclass, checked once.

Every field is a complete setting (no `None` filled in later): the named
recipes in `configs.py` set them per model, and the command line overrides
them one by one (`--config.epochs=5`, `--config.wanted_words=yes,no`).
The fields follow the TensorFlow `speech_commands` example's flags.
"""

import dataclasses

from tfdl import config as C
from tfdl.keywords import corpus
from tfdl.keywords.model import MODELS, PREPROCESS

# Two of the six `_background_noise_` files of Speech Commands (and of
# ../shared/data/keywords): kept out of training to score robustness to unheard noise.
HELD_OUT_NOISE = ("running_tap.wav", "doing_the_dishes.wav")


@dataclasses.dataclass
class Config:
    """One keyword-spotting run.

    Attributes:
        model: a builder of `tfdl.keywords.model.MODELS` (cnn, ds_cnn, ffnn).
        dropout: the builder's dropout rate (its docstring says where).
        batchnorm: batch normalisation in the builder's body.
        preprocess: features computed inside the model: "log-mel", "mfcc" or
            "relative-log-mel" (log-mel relative to the clip's peak, less its mean
            over speech frames: `tfdl.features.RelativeLog`, `UtteranceNorm`).
        sample_rate: model rate (Hz); clips at other rates are resampled.
        clip_duration_ms: clip length; longer clips are cropped, shorter ones
            zero-padded.
        window_size_ms, window_stride_ms: feature analysis window and hop.
        feature_bin_count: mel bins (log-mel) or MFCC coefficients.
        wanted_words: words to recognise (folder names); every other word
            folder is `_unknown_`.
        silence_percentage, unknown_percentage: silence and unknown-word
            examples of each split, as a percentage of its wanted-word clips.
        validation_percentage, testing_percentage: hash-split shares of the
            words that validation_list.txt / testing_list.txt do not cover.
        time_shift_ms: largest random time shift in training (0: none).
        background_frequency: share of training clips mixed with background
            noise (0: no noise augmentation).
        background_volume: largest background-noise volume (noise files are
            peak-normalised).
        held_out_noise: `_background_noise_` files kept out of training; the
            test split is also scored mixed with them (empty: none).
        eval_snr_db: SNRs (dB) of that noisy test.
        optimizer, learning_rate, schedule, epochs, batch_size, patience, seed:
            training (patience 0: no early stopping).
        steps_per_epoch: cap on steps per epoch (0: a full pass; smoke runs).
        export: write the SavedModel and model.tflite.
        int8: with `export`, also `model_int8.tflite` (`tfdl.export.write_tflite_int8`:
            the network in int8, scaled on `tfdl.export.INT8_CLIPS` training clips of
            words; the front end float), scored on the test split like the model.
        teacher: distillation (`tfdl.keywords.distill`): a named keywords config,
            trained first on the same corpus and splits, or a keywords export
            folder with the same labels, whose probabilities on each training
            clip the model learns too ("": none).
        temperature: the distillation temperature T.
        soft_weight: the share of the distillation term in the loss.
    """

    model: str = "cnn"
    dropout: float = 0.25
    batchnorm: bool = True
    preprocess: str = "log-mel"
    sample_rate: int = 16000
    clip_duration_ms: float = 1000.0
    window_size_ms: float = 30.0
    window_stride_ms: float = 10.0
    feature_bin_count: int = 40
    wanted_words: tuple = corpus.DEFAULT_WANTED_WORDS
    silence_percentage: float = 10.0
    unknown_percentage: float = 10.0
    validation_percentage: float = 10.0
    testing_percentage: float = 10.0
    time_shift_ms: float = 100.0
    background_frequency: float = 0.8
    background_volume: float = 0.1
    held_out_noise: tuple = HELD_OUT_NOISE
    eval_snr_db: tuple = (0.0, 10.0)
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    epochs: int = 30
    batch_size: int = 64
    patience: int = 0
    seed: int = 0
    steps_per_epoch: int = 0
    export: bool = True
    int8: bool = False
    teacher: str = ""
    temperature: float = 3.0
    soft_weight: float = 0.7

    @property
    def clip_samples(self):
        """Samples per clip at `sample_rate`."""
        return int(round(self.sample_rate * self.clip_duration_ms / 1000.0))

    @property
    def noise_augmentation(self):
        """Whether training mixes in background noise."""
        return self.background_frequency > 0 and self.background_volume > 0

    def front_end(self):
        """The model builders' front-end keyword arguments."""
        return dict(sample_rate=self.sample_rate, clip_duration_ms=self.clip_duration_ms,
                    window_size_ms=self.window_size_ms, window_stride_ms=self.window_stride_ms,
                    feature_bin_count=self.feature_bin_count, preprocess=self.preprocess)

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        from tfdl.train import OPTIMIZERS, SCHEDULES

        C.check_choice(self, "model", MODELS.names())
        C.check_choice(self, "preprocess", PREPROCESS)
        C.check_choice(self, "optimizer", OPTIMIZERS)
        C.check_choice(self, "schedule", SCHEDULES)
        for name in ("batchnorm", "export", "int8"):
            C.check_choice(self, name, (True, False))
        C.check_positive(self, "sample_rate", "feature_bin_count", "epochs", "batch_size",
                         integer=True)
        C.check_positive(self, "clip_duration_ms", "window_size_ms", "window_stride_ms",
                         "learning_rate")
        C.check_range(self, "window_size_ms", 0.0, self.clip_duration_ms, low_open=True,
                      high_open=False)
        C.check_range(self, "time_shift_ms", 0.0, self.clip_duration_ms)
        C.check_range(self, "dropout", 0.0, 1.0)
        for name in ("silence_percentage", "unknown_percentage"):
            C.check_range(self, name, 0.0, 100.0, high_open=False)
        for name in ("background_frequency", "background_volume"):
            C.check_range(self, name, 0.0, 1.0, high_open=False)
        for name in ("patience", "steps_per_epoch", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                C.fail(name, "an integer >= 0", value)
        self.wanted_words = tuple(corpus.check_split(
            _names(self, "wanted_words"), self.validation_percentage, self.testing_percentage))
        self.held_out_noise = _names(self, "held_out_noise")
        self.eval_snr_db = C.as_tuple(self, "eval_snr_db", float)
        from tfdl.keywords.configs import CONFIGS

        C.check_teacher(self, CONFIGS)
        return self


def _names(cfg, field):
    """A field of names as a tuple, from a tuple or a command line's "a,b" (blanks dropped)."""
    return tuple(n.strip() for v in C.as_tuple(cfg, field, str) for n in v.split(",")
                 if n.strip())
