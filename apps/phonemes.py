"""Frame-level phoneme classification from MFCC frames with a context window.

    python -m apps.phonemes --models=mlp,resnet_basic,resnet_bottleneck --context=15 --stride=3

Trains each `--models` member (repeat a name for a seed ensemble) on an
utterance-level split of `../shared/data/phonemes` (or `--data_dir`; HTK
MFCC + Festival labels, the CMU 11-785 `.npy` layout, or WAV + labels),
combines them with the four ensemble rules (majority vote, max confidence,
probability averaging, weighted averaging with weights fitted on the
validation utterances) and writes into `--workdir` (default runs/phonemes):
config.json, members/<name>/ (history.json, training curves, TensorBoard),
report.json, confusion_matrix.png, phone_sequence.png (one test utterance,
true vs predicted), export/ (SavedModel: `serve(mfcc[frames, 13])` ->
per-frame probabilities, class ids and phone labels; normalisation and context
gathering happen inside) and metrics.json (each member and each rule).
"""

import dataclasses

import tfdl  # noqa: F401  (quiet TensorFlow start-up)
from absl import flags

from tfdl import cli
from tfdl.datasets.phonemes import LAYOUTS
from tfdl.errors import InputError
from tfdl.models.phonemes import MODELS
from tfdl.phonemes import train_and_evaluate
from tfdl.train import SCHEDULES

FLAGS = flags.FLAGS

flags.DEFINE_string("data_dir", None,
        "Phoneme data folder (default $TFDL_DATA_DIR/phonemes).")
flags.DEFINE_enum("layout", "auto", LAYOUTS, "On-disk layout (auto-detected by default).")
flags.DEFINE_string("workdir", "runs/phonemes", "Output folder.")
flags.DEFINE_list("models", ["mlp"],
        f"Ensemble members, from: {', '.join(MODELS.names())}.")
flags.DEFINE_integer("context", 15, "K: frames on each side of the centre frame.")
flags.DEFINE_integer("stride", 3, "Use every stride-th frame inside the window (2 ms "
        "frames: K=15, stride=3 spans +-90 ms).")
flags.DEFINE_integer("width", 512, "Hidden width (bottleneck: inner width).")
flags.DEFINE_integer("depth", 3, "Hidden layers (mlp) or residual blocks.")
flags.DEFINE_float("dropout", 0.3, "Dropout rate.")
flags.DEFINE_integer("epochs", 8, "Maximum epochs.")
flags.DEFINE_integer("frames_per_epoch", 250_000,
        "Training frames drawn per epoch (0 = all).")
flags.DEFINE_integer("batch_size", 512, "Frames per batch.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_enum("schedule", "cosine", SCHEDULES, "Learning-rate schedule.")
flags.DEFINE_integer("patience", 3, "Early-stopping patience (epochs; 0 = off).")
flags.DEFINE_integer("test_utterances", 50, "Utterances held out for testing.")
flags.DEFINE_integer("val_utterances", 25,
        "Utterances for early stopping and ensemble weights.")
flags.DEFINE_integer("max_utterances", 0, "Use only the first N utterances (0 = all).")
flags.DEFINE_string("phone_map", "", "Phone renames, e.g. 'sp=sil,l!=l'.")
flags.DEFINE_float("tolerance", 0.01, "Seconds label files may overhang the features.")
flags.DEFINE_integer("seed", 0, "Random seed.")


@dataclasses.dataclass(frozen=True)
class Config:
    data_dir: str = None
    layout: str = "auto"
    workdir: str = "runs/phonemes"
    models: tuple = ("mlp",)
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
    max_utterances: int = 0
    phone_map: str = ""
    tolerance: float = 0.01
    seed: int = 0

    def validate(self):
        if not self.models:
            raise InputError("--models must name at least one model")
        for m in self.models:
            if m not in MODELS:
                raise InputError(f"--models: unknown model {m!r}; choose from "
                                 f"{', '.join(MODELS.names())}")
        for name in ("stride", "width", "epochs", "batch_size", "learning_rate",
                     "test_utterances"):
            cli.check_positive(name, getattr(self, name))
        for name in ("context", "depth", "frames_per_epoch", "patience", "val_utterances",
                     "max_utterances", "tolerance"):
            if getattr(self, name) < 0:
                raise InputError(f"--{name} must be >= 0. Received: --{name}="
                                 f"{getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"--dropout must be in [0, 1). Received: --dropout={self.dropout}")
        return self


def config_from_flags():
    values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(Config)}
    models = values["models"]
    values["models"] = tuple(models.split(",") if isinstance(models, str) else models or ())
    return Config(**values)


def main(argv):
    del argv
    config = config_from_flags().validate()
    m = train_and_evaluate(config)
    rows = [(name, f"{r['test_frame_accuracy']:.4f} test frame accuracy, "
                   f"{r['train_frames_per_sec']:.0f} train frames/s")
            for name, r in m["members"].items()]
    if m["ensemble"]:
        rows += [(f"ensemble {rule}", f"{acc:.4f}") for rule, acc in m["ensemble"].items()
                 if rule != "weights"]
    rows += [("frame accuracy", f"{m['frame_accuracy']:.4f} ({m['predictor']})"),
             ("workdir", config.workdir), ("export", m["export"]),
             ("tensorboard", f"tensorboard --logdir {config.workdir}")]
    cli.summary("phonemes", rows)


if __name__ == "__main__":
    cli.run(main)
