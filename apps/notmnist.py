r"""notMNIST letters A-J: a CNN (batch-norm, dropout, L2, He init, augmentation), Nadam, ensembles.

    python -m apps.notmnist --data_dir=../shared/data              # --ensemble=5 (default)
    python -m apps.notmnist --ensemble=1 --epochs=10                 # one model, quicker

Data: the IDX files in `--data_dir` (or `$TFDL_DATA_DIR/notmnist`, then
`~/.keras/datasets/notmnist`); a single 10k pair is split 8k/2k (stratified,
seeded). Each of the `--ensemble` CNNs trains with its own seed, Nadam and
early stopping on a stratified `--val_fraction` of the training split;
random shifts and rotations are Keras preprocessing layers inside the model,
active only in training. The exported model averages the members'
probabilities.

The workdir (default `runs/notmnist`) gets config.json, history.json (per
member), member_<i>/ (each member's history, checkpoint, TensorBoard),
training_curves.png, confusion_matrix.png, top_output.png, `export/`
(SavedModel: float32 [batch, 28, 28] raw pixels 0..255 -> probabilities,
class_id, label) and, last, metrics.json (ensemble and member accuracies).
"""

import tfdl  # noqa: F401  (silences TensorFlow's start-up logs; import before TF)
from absl import flags

from tfdl import cli, studies, train

# A private FlagValues: several apps' flags (data_dir, epochs, ...) share one test process.
FLAGS = flags.FlagValues()
studies.define_config_flags(studies.NotMNISTConfig, FLAGS, {
    "data_dir": "notMNIST IDX folder or its parent (default $TFDL_DATA_DIR/notmnist, then "
                "~/.keras/datasets/notmnist).",
    **studies.DATA_FLAG_HELP,
    "seed": "Random seed; member i uses seed + i.",
    "ensemble": "Number of CNNs trained and averaged.",
    "filters": "Channels of each conv block (two 3x3 convs + max-pool per block).",
    "dense": "Units of the fully connected layer.",
    "dropout": "Dropout before the output layer.", "conv_dropout": "Dropout after each block.",
    "l2": "L2 penalty on every kernel.",
    "shift": "Training-only random shift (fraction of the image; 0 = off).",
    "rotation": "Training-only random rotation (fraction of a full turn; 0 = off).",
    "learning_rate": "Nadam learning rate.", "epochs": "Maximum epochs per member.",
    "patience": "Early-stopping patience (epochs without better validation accuracy).",
    "val_fraction": "Validation share of the training split.",
    "steps_per_epoch": "Cap on steps per epoch (smoke runs; 0 = a full pass).",
    "schedule": "Learning-rate schedule (cosine decays to 0 over --epochs).",
}, enums={"schedule": train.SCHEDULES})
flags.DEFINE_string("workdir", "runs/notmnist", "Output folder of the run.", flag_values=FLAGS)


def main(argv):
    if not FLAGS.is_parsed():
        FLAGS(argv)
    cfg = studies.config_from_flags(studies.NotMNISTConfig, FLAGS).validate()
    m = studies.run_notmnist(cfg, FLAGS.workdir)
    members = ", ".join(f"{a:.4f}" for a in m["member_test_accuracy"])
    cli.summary("notMNIST CNN", [
        ("data", m["data_source"]),
        ("test accuracy", f"{m['test_accuracy']:.4f} (ensemble of {cfg.ensemble}, "
                          f"{m['num_test']} images)"),
        ("members", members),
        ("figures", f"{FLAGS.workdir}/{{training_curves,confusion_matrix,top_output}}.png"),
        ("SavedModel", f"{FLAGS.workdir}/export (float32 [batch, 28, 28] pixels 0..255)"),
        ("metrics", f"{FLAGS.workdir}/metrics.json"),
        ("TensorBoard", f"tensorboard --logdir {FLAGS.workdir}"),
    ])


if __name__ == "__main__":
    cli.run(main, FLAGS)
