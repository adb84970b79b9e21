"""The spoken-digits run: one dataclass, checked once.

Every field is a complete setting (no `None` filled in later): the named
recipes in `configs.py` set them per model, and the command line overrides
them one by one (`--config.epochs=5`).
"""

import dataclasses
from pathlib import Path

from tfdl import config as C
from tfdl.digits.model import MODELS
from tfdl.errors import InputError

SPLITS = ("official", "random", "speaker", "loso")


@dataclasses.dataclass
class Config:
    """One spoken-digits run.

    Attributes:
        model: a builder of `tfdl.digits.model.MODELS`.
        split: official (takes 0-4 test), random (`test_fraction`), speaker
            (`test_speakers` held out) or loso (leave-one-speaker-out).
        test_speakers: held-out speakers for `split="speaker"`.
        test_fraction: test share for `split="random"`.
        val_fraction: share of the training split held out for the best
            checkpoint and early stopping (0: train on all of it).
        epochs, batch_size, learning_rate, optimizer, schedule, patience, seed:
            training (patience 0: no early stopping).
        augment: training-only time shift and background noise.
        noise_dir: background-noise WAVs for `augment` ("": the Speech Commands
            `_background_noise_` under `$TFDL_DATA_DIR/keywords`, if present).
        noise_volume: largest background-noise gain.
        max_shift_ms: largest random time shift.
        speed_change: speed perturbation: each training example played at a
            random speed in [1 - x, 1 + x] (0: off).
        microbatches: parts of each batch trained side by side on the CPU cores
            (`tfdl.train.use_microbatches`; 1 on a GPU or under tf.distribute);
            0: timed on this machine and cached (`tfdl.speed`).
        test_speeds, test_shifts_ms: test-time augmentation: probabilities
            averaged over these playback speeds and delays, in evaluation and in
            the export (empty: none).
        speaker_adaptation: with split speaker or loso, unsupervised adaptation
            to each test speaker (cross-fitted AdaBN).
        speaker_adversary: weight of the reversed gradient from a speaker
            classifier on the pooled features (0: off).
        steps_per_epoch: cap on steps per epoch (0: a full pass; smoke runs).
        distribute: tf.distribute strategy: none, mirrored or multi_worker.
        export: write the SavedModel and TFLite model.
        int8: with `export`, also `model_int8.tflite` (`tfdl.export.write_tflite_int8`:
            the network in int8, scaled on `tfdl.export.INT8_CLIPS` training clips; the
            front end float), scored on the test split like the model.
        teacher: distillation (`tfdl.digits.distill`): a named digits config,
            trained first on the same training split, or the folder of a finished
            digits run (a LOSO run's: each fold's own), whose probabilities on each
            augmented training batch the model learns too ("": none).
        temperature: the distillation temperature T.
        soft_weight: the share of the distillation term in the loss.
    """

    model: str = "batchnorm"
    split: str = "official"
    test_speakers: tuple = ()
    test_fraction: float = 0.1
    val_fraction: float = 0.1
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "cosine"
    patience: int = 0
    seed: int = 0
    augment: bool = True
    noise_dir: str = ""
    noise_volume: float = 0.1
    max_shift_ms: float = 100.0
    speed_change: float = 0.0
    microbatches: int = 1
    test_speeds: tuple = ()
    test_shifts_ms: tuple = ()
    speaker_adaptation: bool = False
    speaker_adversary: float = 0.0
    steps_per_epoch: int = 0
    distribute: str = "none"
    export: bool = True
    int8: bool = False
    teacher: str = ""
    temperature: float = 3.0
    soft_weight: float = 0.7

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        from tfdl.train import OPTIMIZERS, SCHEDULES

        C.check_choice(self, "model", MODELS.names())
        C.check_choice(self, "split", SPLITS)
        C.check_choice(self, "optimizer", OPTIMIZERS)
        C.check_choice(self, "schedule", SCHEDULES)
        C.check_choice(self, "distribute", ("none", "mirrored", "multi_worker"))
        C.check_positive(self, "epochs", "batch_size", integer=True)
        if not isinstance(self.microbatches, int) or self.microbatches < 0:
            C.fail("microbatches", "an integer >= 0 (0: measure)", self.microbatches)
        C.check_positive(self, "learning_rate", "max_shift_ms")
        for name in ("patience", "steps_per_epoch", "seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                C.fail(name, "an integer >= 0", getattr(self, name))
        C.check_range(self, "val_fraction", 0.0, 0.5)
        C.check_range(self, "test_fraction", 0.0, 1.0, low_open=True)
        C.check_range(self, "speed_change", 0.0, 0.5)
        C.check_range(self, "noise_volume", 0.0, float("inf"))
        if not self.speaker_adversary >= 0:
            C.fail("speaker_adversary", ">= 0 (0: off)", self.speaker_adversary)
        self.test_speeds = C.as_tuple(self, "test_speeds", float)
        if not all(0.5 <= f <= 2.0 for f in self.test_speeds):
            C.fail("test_speeds", "playback speeds in [0.5, 2] (empty: none)", self.test_speeds)
        self.test_shifts_ms = C.as_tuple(self, "test_shifts_ms", float)
        if not all(0 <= s < 500 for s in self.test_shifts_ms):
            C.fail("test_shifts_ms", "delays in [0, 500) ms (empty: none)", self.test_shifts_ms)
        self.test_speakers = C.as_tuple(self, "test_speakers", str)
        if self.split == "speaker" and not self.test_speakers:
            C.fail("test_speakers", "given with --config.split=speaker (e.g. george)", ())
        if self.noise_dir and not Path(self.noise_dir).is_dir():
            raise InputError(f"--config.noise_dir not found: {self.noise_dir}")
        from tfdl.digits.configs import CONFIGS

        C.check_teacher(self, CONFIGS, folder="digits run folder")
        return self
