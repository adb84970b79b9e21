"""The phoneme-classification run: one dataclass, checked once.

Every field is a complete setting: the named recipes in `configs.py` set
them per model, and the command line overrides them one by one
(`--config.epochs=5`).
"""

import dataclasses

from tfdl import config as C
from tfdl.phonemes.model import MODELS

ENSEMBLE = "ensemble"  # the `model` of a run that trains several members


@dataclasses.dataclass
class Config:
    """One phoneme-classification run.

    Attributes:
        model: a builder of `tfdl.phonemes.model.MODELS`, or "ensemble".
        members: with model "ensemble", the models trained one after the other
            and combined by the four ensemble rules (`tfdl.ensemble`); repeat
            one for a seed ensemble (member i trains with seed + i). Each
            member takes its width and depth from its model's named config;
            every other field (window, dropout, training) is this config's.
            Empty for a single model.
        context, stride: the window: `context` frames on each side of the
            centre frame, every `stride`-th frame (2 ms frames: 15 x 3 spans
            +-90 ms).
        width, depth, dropout: the network (`tfdl.phonemes.model`).
        epochs, batch_size, learning_rate, schedule, patience, seed: training
            (Adam; patience 0: no early stopping).
        frames_per_epoch: training frames drawn at random per epoch (0: all).
        test_utterances, val_utterances: utterances held out for the test and
            for early stopping and the ensemble weights (0: none).
    """

    model: str = "mlp"
    members: tuple = ()
    context: int = 15
    stride: int = 3
    width: int = 512
    depth: int = 3
    dropout: float = 0.3
    epochs: int = 8
    frames_per_epoch: int = 250_000
    batch_size: int = 512
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    patience: int = 3
    test_utterances: int = 50
    val_utterances: int = 25
    seed: int = 0

    def validate(self):
        """Checks every field; raises `InputError` naming `--config.FIELD`. Returns self."""
        from tfdl.train import SCHEDULES

        C.check_choice(self, "model", MODELS.names() + [ENSEMBLE])
        # A command line gives `--config.members=mlp,mlp` as one string.
        self.members = tuple(m.strip() for v in C.as_tuple(self, "members", str)
                             for m in v.split(",") if m.strip())
        if self.model == ENSEMBLE and not all(m in MODELS for m in self.members or ("",)):
            C.fail("members", f"models from {', '.join(MODELS.names())} (at least one)",
                   ",".join(self.members))
        if self.model != ENSEMBLE and self.members:
            C.fail("members", "empty unless --config.model=ensemble", ",".join(self.members))
        C.check_choice(self, "schedule", SCHEDULES)
        C.check_positive(self, "stride", "width", "epochs", "batch_size", "test_utterances",
                         integer=True)
        C.check_positive(self, "learning_rate")
        for name in ("context", "depth", "frames_per_epoch", "patience", "val_utterances",
                     "seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                C.fail(name, "an integer >= 0", getattr(self, name))
        C.check_range(self, "dropout", 0.0, 1.0)
        return self
