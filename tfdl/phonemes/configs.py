"""Named phoneme configs: one complete recipe per model, an ensemble, `default` and `best`.

`python -m apps.phonemes --config=NAME` (or `--model=NAME`) runs one; the
benchmark (`python -m benchmarks.phonemes`) measures each. How the recipes
were chosen: docs/experiments/phonemes.md.
"""

from tfdl.config import Configs
from tfdl.phonemes.config import ENSEMBLE, Config

CONFIGS = Configs("phonemes", Config)

# Baselines on one frame (no context): the benchmark's "context gain" is mlp - mlp_frame.
CONFIGS.add("logistic", "logistic regression on one frame", model="logistic", context=0,
            stride=1, epochs=3)
CONFIGS.add("mlp_frame", "mlp on one frame, no context (baseline)", model="mlp", context=0,
            stride=1, dropout=0.1, epochs=6)
# The CMU 11-785 HW1P2 networks on a +-15 x3 window (31 frames, +-90 ms), dropout 0.3,
# 8 epochs of 250k random frames (Adam, cosine schedule).
CONFIGS.add("mlp", "MLP, BN + GELU, 3 x 512, window +-15 x3", model="mlp")
CONFIGS.add("resnet_basic", "residual MLP, 2 basic blocks of 512", model="resnet_basic",
            depth=2)
CONFIGS.add("resnet_bottleneck", "residual MLP, 2 bottlenecks 128 -> 512",
            model="resnet_bottleneck", width=128, depth=2)
CONFIGS.add("ensemble", "the three window models, 4 ensemble rules", model=ENSEMBLE,
            members=("mlp", "resnet_basic", "resnet_bottleneck"))

CONFIGS.alias("default", "mlp", "best single model, about 6 min on a CPU")
CONFIGS.alias("best", "ensemble", "most accurate (3 members), about 18 min")
