r"""Optimisation and dropout studies on MNIST (the reference's "Adult Optimization" figures).

    python -m apps.optimization --data_dir=../shared/data
    python -m apps.optimization --study=optimization --epochs=10

`--study=optimization`: a 5 x 512 MLP in five set-ups (sigmoid + N(0, 0.01),
sigmoid + Xavier, ReLU + N(0, 0.01), ReLU + Xavier, ReLU + He), each trained
with plain SGD (lr 1.0) and with Adam (Keras defaults): training-loss curves,
one figure per optimiser. `--study=dropout`: a 5 x 1024 MLP, sigmoid + Xavier
and ReLU + He, with and without dropout (0.2 on the input, 0.5 on the hidden
layers), Adam: train and test curves. `--study=both` runs both.

The workdir (default `runs/optimization`) gets config.json, history.json (all
curves), optimization_sgd.png, optimization_adam.png, dropout_loss.png,
dropout_accuracy.png, TensorBoard logs (one run per set-up) and, last,
metrics.json (final values). No SavedModel: the curves are the product.
"""

import tfdl  # noqa: F401  (silences TensorFlow's start-up logs; import before TF)
from absl import flags

from tfdl import cli, studies

# A private FlagValues: several apps' flags (data_dir, epochs, ...) share one test process.
FLAGS = flags.FlagValues()
studies.define_config_flags(studies.OptimizationConfig, FLAGS, {
    "data_dir": "MNIST IDX folder or its parent (default $TFDL_DATA_DIR/mnist).",
    **studies.DATA_FLAG_HELP,
    "seed": "Random seed (same initialisation stream and data order for every set-up).",
    "study": "optimization, dropout or both.",
    "depth": "Hidden layers (both studies).",
    "width": "Units per hidden layer in the optimisation study.",
    "dropout_width": "Units per hidden layer in the dropout study.",
    "epochs": "Epochs per optimisation run.", "dropout_epochs": "Epochs per dropout run.",
    "sgd_learning_rate": "Plain SGD learning rate (the reference fixes 1.0).",
    "adam_learning_rate": "Adam learning rate.",
}, enums={"study": studies.STUDIES})
flags.DEFINE_string("workdir", "runs/optimization", "Output folder of the run.",
                    flag_values=FLAGS)


def main(argv):
    if not FLAGS.is_parsed():
        FLAGS(argv)
    cfg = studies.config_from_flags(studies.OptimizationConfig, FLAGS).validate()
    m = studies.run_optimization(cfg, FLAGS.workdir)
    rows = [("data", m["data_source"])]
    for opt, finals in m.get("final_training_loss", {}).items():
        for name, v in finals.items():
            rows.append((f"{opt} {name}", "diverged" if v is None else f"final loss {v:.4f}"))
    for name, v in m.get("dropout_best_test_accuracy", {}).items():
        rows.append((f"adam {name}", f"best test accuracy {v:.4f}"))
    rows += [("figures", f"{FLAGS.workdir}/*.png"),
             ("metrics", f"{FLAGS.workdir}/metrics.json"),
             ("TensorBoard", f"tensorboard --logdir {FLAGS.workdir}/tensorboard")]
    cli.summary("optimisation / dropout study", rows)


if __name__ == "__main__":
    cli.run(main, FLAGS)
