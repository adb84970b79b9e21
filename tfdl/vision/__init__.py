"""Images (28x28 grey: MNIST, notMNIST): the vision task package, behind four apps.

    config.py     the runs of the four apps (dataclasses) and their checks
    configs.py    named recipes per app: `MNIST`, `NOTMNIST`, `OPTIMIZATION`, `BACKPROP`
    idx.py        IDX files (the MNIST format): read and write
    data.py       find, read and split MNIST / notMNIST; tf.data pipelines
    model.py      the MLP and CNN builders (`MODELS`), ensembles, hidden activations
    train.py      what the classifier runs share: fit, evaluate, export
    mnist.py      `run`: the MNIST MLP, its top-image grids and embeddings
    notmnist.py   `run`: the notMNIST CNN ensemble
    studies.py    `run`: the optimisation and dropout studies
    numpy_mlp.py  an MLP in NumPy with hand-written backprop
    backprop.py   `run`: the NumPy MLP against Keras from the same weights
    visualize.py  top-image grids, PCA / t-SNE scatters, curves
"""
