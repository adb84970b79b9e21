"""Image classifiers for 28x28 grey images (MNIST, notMNIST): the `MODELS` registry.

Every model takes raw pixel values, float32 [batch, 28, 28] in 0..255, and
rescales inside (so the SavedModel takes raw pixels). Random augmentation
(`RandomTranslation`, `RandomRotation`) sits inside the model as Keras
preprocessing layers, which are active only when `training=True`: inference
and the exported signature never see it. Hidden layers of the MLP are named
`hidden_1` ... `hidden_<depth>` so their activations can be read out.
"""

import keras

from tfdl.layers import BatchNormalization
from tfdl.registry import Registry

MODELS = Registry("vision")

# Initialiser and activation names of the configs and the studies.
INITIALIZERS = ("normal", "xavier", "he")
ACTIVATIONS = ("sigmoid", "relu", "tanh", "elu")


def make_initializer(name, seed=None):
    """"normal" = N(0, 0.01) (the reference's), "xavier" = Glorot uniform, "he" = He normal."""
    if name == "normal":
        return keras.initializers.RandomNormal(0.0, 0.01, seed=seed)
    if name == "xavier":
        return keras.initializers.GlorotUniform(seed=seed)
    if name == "he":
        return keras.initializers.HeNormal(seed=seed)
    raise ValueError(f"initializer must be one of {INITIALIZERS}. Received: initializer={name!r}")


def _offset(seed, i):
    return None if seed is None else seed + i


def _augment(x, shift, rotation, seed):
    # Images are [batch, 28, 28, 1] here; both layers are identity at inference.
    if shift:
        x = keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed,
                                           name="random_shift")(x)
    if rotation:
        x = keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed,
                                        name="random_rotation")(x)
    return x


@MODELS.register("mlp")
def mlp(num_classes=10, depth=5, width=1024, activation="relu", initializer="he",
        dropout=0.0, input_dropout=0.0, shift=0.0, rotation=0.0, l2=0.0, seed=None,
        model_name="mlp"):
    """A fully connected classifier.

    Args:
        num_classes: outputs (softmax).
        depth, width: hidden layers and units per layer.
        activation: hidden activation (e.g. "relu", "sigmoid").
        initializer: "normal" (N(0, 0.01)), "xavier" or "he"; biases start at 0.
        dropout: rate on the input of every layer after the first hidden one.
        input_dropout: rate on the input pixels.
        shift, rotation: training-only augmentation (fraction of the image /
            fraction of a full turn); 0 turns it off.
        l2: L2 weight penalty on the kernels.
        seed: initialiser seed.

    Input shape: [batch, 28, 28] raw pixels 0..255. Output: [batch, num_classes].
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1. Received: depth={depth}, width={width}")
    reg = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input((28, 28), name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    if shift or rotation:
        x = keras.layers.Reshape((28, 28, 1))(x)
        x = _augment(x, shift, rotation, seed)
    x = keras.layers.Flatten(name="flatten")(x)
    if input_dropout:
        x = keras.layers.Dropout(input_dropout, name="input_dropout")(x)
    for i in range(depth):
        if i and dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        x = keras.layers.Dense(width, activation=activation, name=f"hidden_{i + 1}",
                               kernel_initializer=make_initializer(initializer, _offset(seed, i)),
                               kernel_regularizer=reg)(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"dropout_{depth}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                                 kernel_initializer=make_initializer(initializer,
                                                                     _offset(seed, depth)),
                                 kernel_regularizer=reg)(x)
    return keras.Model(inputs, outputs, name=model_name)


@MODELS.register("cnn")
def cnn(num_classes=10, filters=(16, 32), dense=256, dropout=0.4, conv_dropout=0.1,
        l2=1e-4, shift=0.1, rotation=0.04, seed=None, model_name="cnn"):
    """The notMNIST CNN: conv blocks with batch-norm, He init, L2, dropout, augmentation.

    Each block is Conv3x3-BN-ReLU, Conv3x3-BN-ReLU, MaxPool 2x2, Dropout
    `conv_dropout`; then Dense `dense`-BN-ReLU, Dropout `dropout`, softmax.

    Args:
        num_classes: outputs.
        filters: channels per block.
        dense: units of the fully connected layer.
        dropout, conv_dropout: dropout rates (head / after each block).
        l2: L2 penalty on every kernel.
        shift, rotation: training-only RandomTranslation / RandomRotation factors.
        seed: seed of the initialisers and the augmentation.

    Input shape: [batch, 28, 28] raw pixels 0..255. Output: [batch, num_classes].
    """
    reg = keras.regularizers.L2(l2) if l2 else None

    def init(i):
        return keras.initializers.HeNormal(seed=None if seed is None else seed + i)

    inputs = keras.Input((28, 28), name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Reshape((28, 28, 1))(x)
    x = _augment(x, shift, rotation, seed)
    k = 0
    for b, f in enumerate(filters):
        for j in range(2):
            x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False,
                                    kernel_initializer=init(k), kernel_regularizer=reg,
                                    name=f"conv{b + 1}_{j + 1}")(x)
            x = BatchNormalization(name=f"bn{b + 1}_{j + 1}")(x)
            x = keras.layers.ReLU()(x)
            k += 1
        x = keras.layers.MaxPooling2D(name=f"pool{b + 1}")(x)
        if conv_dropout:
            x = keras.layers.Dropout(conv_dropout)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(dense, use_bias=False, kernel_initializer=init(k),
                           kernel_regularizer=reg, name="dense")(x)
    x = BatchNormalization(name="bn_dense")(x)
    x = keras.layers.ReLU(name="features")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=reg,
                                 name="probabilities")(x)
    return keras.Model(inputs, outputs, name=model_name)


def ensemble(members, name="ensemble"):
    """A model that averages the probabilities of `members` (same input and output shapes)."""
    if not members:
        raise ValueError("ensemble needs at least one member. Received: members=[]")
    inputs = keras.Input(members[0].input_shape[1:], name="pixels")
    outs = [m(inputs) for m in members]
    out = outs[0] if len(outs) == 1 else keras.layers.Average(name="average")(outs)
    return keras.Model(inputs, out, name=name)


def hidden_activations(model, names=None):
    """A model mapping the input to the outputs of the layers in `names`.

    Args:
        model: a functional model.
        names: layer names; default every `hidden_*` layer and the output.

    Returns:
        (feature model, names).
    """
    if names is None:
        names = [layer.name for layer in model.layers if layer.name.startswith("hidden_")]
        names.append(model.layers[-1].name)
    outs = [model.get_layer(n).output for n in names]
    return keras.Model(model.inputs, outs), names
