r"""MNIST: a fully connected net (5 x 1024 by default), its top-image grids and embeddings.

    python -m apps.mnist --data_dir=../shared/data
    python -m apps.mnist --depth=3 --width=512 --notsne          # quicker

Data: the IDX files in `--data_dir` (or `$TFDL_DATA_DIR/mnist`, then
`~/.keras/datasets/mnist`): the official train/test pairs when present, else a
stratified, seeded `--test_fraction` split of the one pair found (the offline
10k set gives 8k/2k); with no folder and downloads allowed,
`keras.datasets.mnist`. A stratified `--val_fraction` of the training split
drives the best checkpoint and early stopping; the test split is only scored.

The workdir (default `runs/mnist`) gets config.json, history.json,
training_curves.png, confusion_matrix.png, top_output.png (per class, the 10
test images with the highest probability), top_hidden.png (the same for 10
random units of the last hidden layer), pca.png and tsne.png (1,000 test
images: raw pixels and every layer, coloured by class, labels at the class
means), TensorBoard logs, `export/` (SavedModel: float32 [batch, 28, 28] raw
pixels 0..255 -> probabilities, class_id, label) and, last, metrics.json.
"""

import tfdl  # noqa: F401  (silences TensorFlow's start-up logs; import before TF)
from absl import flags

from tfdl import cli, studies, train
from tfdl.models import vision as vision_models

# A private FlagValues: several apps' flags (data_dir, epochs, ...) share one test process.
FLAGS = flags.FlagValues()
studies.define_config_flags(studies.MNISTConfig, FLAGS, {
    "data_dir": "MNIST IDX folder or its parent (default $TFDL_DATA_DIR/mnist, then "
                "~/.keras/datasets/mnist, else keras.datasets.mnist).",
    **studies.DATA_FLAG_HELP,
    "seed": "Random seed (split, weights, shuffling, augmentation).",
    "depth": "Hidden layers.", "width": "Units per hidden layer.",
    "activation": "Hidden activation.",
    "initializer": "normal = N(0, 0.01), xavier = Glorot uniform, he = He normal.",
    "dropout": "Dropout on the input of every layer after the first hidden one.",
    "input_dropout": "Dropout on the input pixels.",
    "shift": "Training-only random shift (fraction of the image; 0 = off).",
    "rotation": "Training-only random rotation (fraction of a full turn; 0 = off).",
    "learning_rate": "Learning rate.", "epochs": "Maximum epochs.",
    "patience": "Early-stopping patience (epochs without better validation accuracy).",
    "val_fraction": "Validation share of the training split.",
    "embed_samples": "Test images for the grids and the t-SNE/PCA plots.",
    "tsne": "Draw t-SNE plots (slow: about 10 s of CPU per layer; --notsne for quick runs).",
    "tsne_iter": "t-SNE iterations.",
    "steps_per_epoch": "Cap on steps per epoch (smoke runs; 0 = a full pass).",
    "schedule": "Learning-rate schedule (cosine decays to 0 over --epochs).",
}, enums={"activation": vision_models.ACTIVATIONS, "initializer": vision_models.INITIALIZERS,
          "schedule": train.SCHEDULES,
          "optimizer": train.OPTIMIZERS})
flags.DEFINE_string("workdir", "runs/mnist", "Output folder of the run.", flag_values=FLAGS)


def main(argv):
    if not FLAGS.is_parsed():
        FLAGS(argv)
    cfg = studies.config_from_flags(studies.MNISTConfig, FLAGS).validate()
    m = studies.run_mnist(cfg, FLAGS.workdir)
    cli.summary("MNIST MLP", [
        ("data", m["data_source"]),
        ("test accuracy", f"{m['test_accuracy']:.4f} ({m['num_test']} images)"),
        ("epochs run", m["epochs_run"]),
        ("examples/sec", f"{m['examples_per_sec']:.0f}"),
        ("figures", f"{FLAGS.workdir}/{{training_curves,confusion_matrix,top_output,top_hidden,"
                    f"pca{',tsne' if cfg.tsne else ''}}}.png"),
        ("SavedModel", f"{FLAGS.workdir}/export (float32 [batch, 28, 28] pixels 0..255)"),
        ("metrics", f"{FLAGS.workdir}/metrics.json"),
        ("TensorBoard", f"tensorboard --logdir {FLAGS.workdir}/tensorboard"),
    ])


if __name__ == "__main__":
    cli.run(main, FLAGS)
