"""Named searches: one per task, each the search its benchmark ran (`--config=NAME`)."""

from tfdl.config import Configs
from tuning.config import Config

CONFIGS = Configs("tuning", Config)
# The README's search: 20 architectures under 100,000 parameters, 3 epochs each, the best
# retrained for 30 (benchmarks/tuning.py).
CONFIGS.add("digits", "digits: 20 trials under 100k parameters", app="digits",
            max_trials=20, epochs=3, final_epochs=30, max_params=100_000)
CONFIGS.add("keywords", "keywords: 10 trials under 300k parameters", app="keywords",
            max_trials=10, epochs=5, final_epochs=30, max_params=300_000)
CONFIGS.add("phonemes", "phonemes: 10 trials under 1M parameters", app="phonemes",
            max_trials=10, epochs=5, final_epochs=20, max_params=1_000_000)
CONFIGS.alias("default", "digits", "digits: 20 trials under 100k parameters")
