"""Named keyword-spotting configs: one complete recipe per model, plus `default` and `best`.

`python -m apps.keywords --config=NAME` (or `--model=NAME`) runs one; the
benchmark (`python -m benchmarks.keywords`) measures each. Every recipe
trains with the time shift (100 ms) and background noise (80 % of the clips,
volume <= 0.1) and holds `running_tap.wav` and `doing_the_dishes.wav` out of
training for the noisy test. How each recipe was chosen, and what lost:
docs/experiments/keywords.md.
"""

from tfdl.config import Configs
from tfdl.keywords.config import Config

CONFIGS = Configs("keywords", Config)

# The reference's CNN with dropout and batch norm on log-mel: the best measured run
# (97.0 % clean, 45 / 75 % under held-out noise at 0 / 10 dB; MFCC 96.3 %).
CONFIGS.add("cnn", "course's 2-D CNN on log-mel, dropout, batch norm",
            model="cnn", preprocess="log-mel", dropout=0.25, batchnorm=True)
# The same CNN on log-mel relative to each clip's peak, less its mean over speech frames
# (the digits' RelativeLog and UtteranceNorm): as accurate on clean clips, 10 points
# better under unheard noise at 0 dB (3 seeds: docs/experiments/keywords.md).
CONFIGS.add("cnn_robust", "cnn on log-mel relative to the clip's level and channel",
            base="cnn", preprocess="relative-log-mel")
# The README's DS-CNN command (MFCC as in "Hello Edge", SGD with momentum); no measured row.
CONFIGS.add("ds_cnn", "depthwise-separable CNN on MFCC, SGD momentum",
            model="ds_cnn", preprocess="mfcc", dropout=0.25, batchnorm=True,
            optimizer="momentum", learning_rate=0.01)
# The benchmark's `ffnn_augmented` run: the builder's own dropout 0.2, no batch norm.
CONFIGS.add("ffnn", "feed-forward baseline on MFCC",
            model="ffnn", preprocess="mfcc", dropout=0.2, batchnorm=False)

CONFIGS.alias("default", "cnn_robust", "best measured; 9 min on 2 CPU cores (measured)")
CONFIGS.alias("best", "cnn_robust", "most accurate measured (clean and noisy)")
