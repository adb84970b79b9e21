"""Named spoken-digits configs: one complete recipe per model, plus `default` and `best`.

`python -m apps.digits --config=NAME` (or `--model=NAME`) runs one; the
benchmark (`python -m benchmarks.digits`) measures each and the README's table
comes from its JSON. How each recipe was chosen: docs/experiments/digits.md.
"""

from tfdl.config import Configs
from tfdl.digits.config import Config

CONFIGS = Configs("digits", Config)

# The course's reference networks on raw audio (Adam, cosine schedule, time shift and
# background noise): plain is the reference's 1.5 M-parameter 1-D CNN.
CONFIGS.add("plain", "the course's 1-D CNN on 6,000 raw samples", model="plain")
CONFIGS.add("dropout", "plain with dropout 0.5 in the dense layers", model="dropout")
CONFIGS.add("batchnorm", "plain with batch norm (course's net_batchnorm)",
            model="batchnorm", epochs=60, microbatches=0)
CONFIGS.add("mfcc", "the course's 2-D CNN on the 13 x 74 MFCC",
            model="mfcc", epochs=60, microbatches=0, val_fraction=0.0)
# Ours: log-mel CNNs with global pooling.
CONFIGS.add("compact", "log-mel CNN, global pooling, 0.1 M parameters",
            model="compact", learning_rate=3e-3)
CONFIGS.add("compact_rel", "compact on log-mel relative to its peak",
            model="compact_rel", learning_rate=3e-3)
# For unseen speakers: speed perturbation, speaker-adversarial training, 7 speeds x 4
# shifts averaged at test time, and (speaker and loso splits) speaker adaptation.
CONFIGS.add("compact_robust", "compact_rel made robust to unseen speakers",
            model="compact_robust", learning_rate=3e-3, epochs=20, val_fraction=0.0,
            speed_change=0.1, test_speeds=(0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15),
            test_shifts_ms=(0, 20, 40, 60), speaker_adaptation=True, speaker_adversary=0.3)
CONFIGS.add("compact_pcen", "compact_robust with a PCEN front end", base="compact_robust",
            model="compact_pcen")
CONFIGS.add("compact_pair", "compact_robust and compact_pcen averaged",
            base="compact_robust", model="compact_pair")
CONFIGS.add("loso", "compact_pair, leave-one-speaker-out (5 folds)",
            base="compact_pair", split="loso")

# Distillation: one pass of a 0.22 M-parameter compact_robust learns compact_pair's
# probabilities on each augmented batch it sees (the teacher trains first, in
# <workdir>/teacher); it also ships as int8 TFLite.
CONFIGS.add("compact_student", "compact_robust, 24 filters, taught by the pair",
            base="compact_robust", model="compact_student", test_speeds=(),
            test_shifts_ms=(), teacher="compact_pair", int8=True)
CONFIGS.add("loso_student", "compact_student, leave-one-speaker-out (a teacher per fold)",
            base="compact_student", split="loso")

CONFIGS.alias("default", "compact_robust", "best in minutes on a CPU")
CONFIGS.alias("best", "compact_pair", "most accurate, whatever it costs")
