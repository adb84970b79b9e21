"""Named vision configs: one registry per app, each with `default` and `best`.

`python -m apps.mnist --config=NAME` (and likewise apps.notmnist,
apps.optimization, apps.backprop) runs one; the benchmark
(`python -m benchmarks.vision`) measures each, and docs/vision.md's table comes
from its JSON. How each recipe was chosen: docs/experiments/vision.md.
"""

from tfdl.config import Configs
from tfdl.vision.config import BackpropConfig, MNISTConfig, NotMNISTConfig, OptimizationConfig

MNIST = Configs("mnist", MNISTConfig)
# 97.75 % on the offline 8k/2k split in about 10 minutes (t-SNE off).
MNIST.add("mlp", "5 x 1024 ReLU MLP, dropout, shifts, 40 epochs")
MNIST.add("quick", "3 x 512 MLP, no t-SNE: a quicker look", depth=3, width=512, tsne=False)
MNIST.alias("default", "mlp", "5 x 1024 MLP: best in minutes on a CPU")
MNIST.alias("best", "mlp", "the most accurate MNIST recipe")

NOTMNIST = Configs("notmnist", NotMNISTConfig)
# One CNN (seed 0) 94.60 %, three averaged 94.85 %, five 95.25 % (about 14 minutes).
NOTMNIST.add("cnn", "one CNN: batch norm, dropout, L2, augmentation", ensemble=1)
NOTMNIST.add("ensemble3", "3 CNNs (seeds seed..seed+2) averaged", ensemble=3)
NOTMNIST.add("ensemble5", "5 CNNs (seeds seed..seed+4) averaged", ensemble=5)
NOTMNIST.alias("default", "ensemble5", "5 CNNs: best in about 14 minutes on a CPU")
NOTMNIST.alias("best", "ensemble5", "the most accurate notMNIST recipe")

OPTIMIZATION = Configs("optimization", OptimizationConfig)
OPTIMIZATION.add("optimization", "5 x 512 MLP, 5 set-ups, SGD and Adam, 20 epochs",
                 study="optimization")
OPTIMIZATION.add("dropout", "5 x 1024 MLP, 4 set-ups +- dropout, Adam, 20 epochs",
                 study="dropout")
OPTIMIZATION.add("both", "both studies, 20 epochs per run (the reference)", study="both")
# The README's trends were read from 5-epoch runs; 20 take about four times as long.
OPTIMIZATION.add("short", "both studies, 5 epochs per run", study="both", epochs=5)
OPTIMIZATION.alias("default", "short", "both studies, 5 epochs: minutes on a CPU")
OPTIMIZATION.alias("best", "both", "both studies at the reference's 20 epochs")

BACKPROP = Configs("backprop", BackpropConfig)
BACKPROP.add("reference", "784-100-50-10, SGD lr 0.05, batch 100, 50 epochs")
BACKPROP.add("short", "the same, 10 epochs on 2,000 training images",
             epochs=10, train_size=2000)
BACKPROP.alias("default", "reference")
BACKPROP.alias("best", "reference")

APPS = {"mnist": MNIST, "notmnist": NOTMNIST, "optimization": OPTIMIZATION,
        "backprop": BACKPROP}
