"""Frame-level phoneme classifiers (CMU 11-785 HW1P2 recipes) and their registry.

Every builder returns an uncompiled functional Keras model mapping context
windows `[batch, 2 * context + 1, num_features]` (normalised MFCC frames) to
phone probabilities `[batch, num_classes]` (softmax). Shared keyword
arguments, so the tuning HyperModel can call any builder the same way
(`tuning/hypermodels/` also searches `activation` and `batchnorm`):

    num_classes   phones in the vocabulary (required)
    num_features  MFCC dimensions per frame (13)
    context       K: frames on each side of the centre frame (0 = single frame)
    width         hidden units per layer (the bottleneck's inner width)
    depth         hidden layers (mlp) or residual blocks (resnet_*)
    dropout       dropout rate after every hidden layer / block (0 = none)

Models (registry `MODELS`; each has a named config of the same name in
`tfdl.phonemes.configs`):
    logistic            multinomial logistic regression on the flattened window
    mlp                 [Dense -> BatchNorm -> GELU -> Dropout] x depth: the
                        reference recipe (batch-norm after every layer, GELU)
    resnet_basic        Dense stem, then He et al.'s basic block as in the
                        reference: Dense-BN-ReLU-Dense-BN, + identity, ReLU
    resnet_bottleneck   Dense stem, then the bottleneck block: Dense(w)-BN-ReLU-
                        Dense(w)-BN-ReLU-Dense(4w)-BN, + residual, ReLU; the
                        residual is a Dense(4w) projection (the reference's
                        `self.residual`) when the input width differs, identity
                        otherwise, so blocks stack
"""

import keras

from tfdl.layers import BatchNormalization
from tfdl.registry import Registry

MODELS = Registry("phonemes")


def _inputs(context, num_features):
    if context < 0 or int(context) != context:
        raise ValueError(f"context must be an integer >= 0. Received: context={context}")
    if num_features <= 0:
        raise ValueError(f"num_features must be positive. Received: num_features={num_features}")
    frames = 2 * int(context) + 1
    x = keras.Input((frames, num_features), name="windows")
    return x, keras.layers.Flatten(name="flatten")(x)


def _head(h, num_classes):
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2. Received: num_classes={num_classes}")
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(h)


def _check(width, depth, dropout):
    if width <= 0 or depth < 0:
        raise ValueError(f"width must be positive and depth >= 0. Received: width={width}, "
                         f"depth={depth}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")


@MODELS.register("logistic")
def logistic(num_classes, num_features=13, context=0, **unused):
    """Multinomial logistic regression (one Dense softmax) on the flattened window.

    Extra keyword arguments (width, depth, dropout) are accepted and ignored so
    all builders share one call signature.
    """
    x, h = _inputs(context, num_features)
    return keras.Model(x, _head(h, num_classes), name="logistic")


@MODELS.register("mlp")
def mlp(num_classes, num_features=13, context=0, width=512, depth=3, dropout=0.1,
        activation="gelu", batchnorm=True):
    """The reference MLP: [Dense -> BatchNorm -> activation -> Dropout] x depth -> softmax.

    `batchnorm=False` drops the BatchNorm layers (for architecture search).
    """
    _check(width, depth, dropout)
    x, h = _inputs(context, num_features)
    for i in range(depth):
        h = keras.layers.Dense(width, name=f"dense{i}")(h)
        if batchnorm:
            h = BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.Activation(activation, name=f"{activation}{i}")(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"dropout{i}")(h)
    return keras.Model(x, _head(h, num_classes), name="mlp")


def _bn(h, name, batchnorm):
    return BatchNormalization(name=name)(h) if batchnorm else h


def _stem(h, width, dropout, activation="relu", batchnorm=True):
    h = keras.layers.Dense(width, name="stem_dense")(h)
    h = _bn(h, "stem_bn", batchnorm)
    h = keras.layers.Activation(activation, name=f"stem_{activation}")(h)
    return keras.layers.Dropout(dropout, name="stem_dropout")(h) if dropout else h


def basic_block(h, width, name, dropout=0.0, activation="relu", batchnorm=True):
    """Reference BasicBlock: relu(BN(W1 relu(BN(W0 x))) + x) (relu/BN configurable)."""
    r = h
    z = keras.layers.Dense(width, name=f"{name}_dense0")(h)
    z = _bn(z, f"{name}_bn0", batchnorm)
    z = keras.layers.Activation(activation, name=f"{name}_{activation}0")(z)
    z = keras.layers.Dense(width, name=f"{name}_dense1")(z)
    z = _bn(z, f"{name}_bn1", batchnorm)
    h = keras.layers.Add(name=f"{name}_add")([z, r])
    h = keras.layers.Activation(activation, name=f"{name}_{activation}1")(h)
    return keras.layers.Dropout(dropout, name=f"{name}_dropout")(h) if dropout else h


def bottleneck_block(h, width, name, dropout=0.0, expansion=4, activation="relu",
                     batchnorm=True):
    """Reference Bottleneck: relu(BN(W2 relu(BN(W1 relu(BN(W0 x))))) + R x), 4x expansion."""
    out = width * expansion
    r = h if h.shape[-1] == out else keras.layers.Dense(out, name=f"{name}_residual")(h)
    z = h
    for i, units in enumerate((width, width, out)):
        z = keras.layers.Dense(units, name=f"{name}_dense{i}")(z)
        z = _bn(z, f"{name}_bn{i}", batchnorm)
        if i < 2:
            z = keras.layers.Activation(activation, name=f"{name}_{activation}{i}")(z)
    h = keras.layers.Add(name=f"{name}_add")([z, r])
    h = keras.layers.Activation(activation, name=f"{name}_{activation}")(h)
    return keras.layers.Dropout(dropout, name=f"{name}_dropout")(h) if dropout else h


@MODELS.register("resnet_basic")
def resnet_basic(num_classes, num_features=13, context=0, width=512, depth=2, dropout=0.1,
                 activation="relu", batchnorm=True):
    """Dense stem to `width`, then `depth` basic residual blocks, then softmax."""
    _check(width, depth, dropout)
    x, h = _inputs(context, num_features)
    h = _stem(h, width, dropout, activation, batchnorm)
    for i in range(depth):
        h = basic_block(h, width, f"block{i}", dropout, activation, batchnorm)
    return keras.Model(x, _head(h, num_classes), name="resnet_basic")


@MODELS.register("resnet_bottleneck")
def resnet_bottleneck(num_classes, num_features=13, context=0, width=128, depth=2, dropout=0.1,
                      activation="relu", batchnorm=True):
    """Dense stem to `width`, then `depth` bottleneck blocks (inner `width`, out 4x), softmax."""
    _check(width, depth, dropout)
    x, h = _inputs(context, num_features)
    h = _stem(h, width, dropout, activation, batchnorm)
    for i in range(depth):
        h = bottleneck_block(h, width, f"block{i}", dropout, activation=activation,
                             batchnorm=batchnorm)
    return keras.Model(x, _head(h, num_classes), name="resnet_bottleneck")
