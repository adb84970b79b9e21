"""Spoken-digit classifiers (FSDD, 8 kHz): the course reference's networks and our own.

Every builder returns an uncompiled functional Keras model that takes a batch
of raw float waveforms of any length (`[batch, samples]`, 8 kHz, in [-1, 1])
and returns class probabilities `[batch, num_classes]`. Padding/trimming
(`PadOrTrim`), features (`MFCC`, `LogMel`) and normalisation live inside the
model, so an exported SavedModel takes raw audio.

Models (registry `MODELS`; each has a named config of the same name):
    plain: the reference 1-D CNN on 6000 samples (0.75 s): Conv1D 4/8/16/32,
        kernel 5, valid, ReLU, average-pool 2; Dense 128/64/10. 1,532,090
        trainable parameters, as the reference's PyTorch count.
    dropout: `plain` with Dropout(0.5) after both hidden dense layers.
    batchnorm: `plain` with batch normalisation after every conv and hidden
        dense layer (before the ReLU), as the reference's `net_batchnorm`.
    mfcc: the reference's `net_batchnorm_mfcc`, a 2-D CNN on the 13 x 74
        python_speech_features MFCC of 6000 samples.
    compact: ours: a log-mel CNN with batch norm, max-pooling blocks and
        global average pooling (about 0.1 M parameters).
    compact_rel: `compact` on log-mel relative to each recording's maximum.
    compact_robust: `compact_rel` with edge fades and per-recording channel
        normalisation, for unseen speakers (leave-one-speaker-out).
    compact_pcen: `compact_robust` on PCEN features instead of the relative log.
    compact_pair: the mean of `compact_robust` and `compact_pcen`, each trained on its
        own: ours for unseen speakers.
    compact_student: `compact_robust` at 24 filters, distilled from `compact_pair`.

All builders take keyword arguments only, so a keras-tuner HyperModel can call
them with tunable values (`MODELS.build(name, **hp_values)`); each docstring
lists its tunable kwargs. The front-end layers are in `tfdl.digits.layers`
(`PCEN`, `EdgeFade`) and `tfdl.features` (`RelativeLog`, `UtteranceNorm`).

`Normalization` layers inside the models start as identity (mean 0, variance
1); call `adapt(model, train_ds)` on the training split before fitting so the
statistics come from training data only.
"""

import keras
import numpy as np
import tensorflow as tf

from tfdl.digits.layers import PCEN, EdgeFade
from tfdl.features import MFCC, LogMel, PadOrTrim, RelativeLog, UtteranceNorm
from tfdl.layers import BatchNormalization
from tfdl.registry import Registry

MODELS = Registry("digits")
SAMPLE_RATE = 8000


def _check(name, value, ok, what):
    if not ok:
        raise ValueError(f"{name} must be {what}. Received: {name}={value!r}")


def _as_tuple(name, value):
    value = (value,) if isinstance(value, int) else tuple(value)
    _check(name, value, value and all(isinstance(v, int) and v > 0 for v in value),
           "a positive int or a non-empty sequence of positive ints")
    return value


def _common(num_classes, length, dropout):
    _check("num_classes", num_classes, isinstance(num_classes, int) and num_classes >= 2,
           "an int >= 2")
    _check("length", length, isinstance(length, int) and length > 0, "a positive int")
    _check("dropout", dropout, 0.0 <= dropout < 1.0, "in [0, 1)")


# PyTorch's BatchNorm defaults (momentum 0.1 there = 0.9 here, eps 1e-5), as the
# reference trains with: Keras' 0.99 lags too far behind on 64 steps per epoch.
TORCH_BN = dict(momentum=0.9, epsilon=1e-5)


def _head(x, dense, dropout, batchnorm, activation, num_classes):
    for i, units in enumerate(dense):
        x = keras.layers.Dense(units, name=f"dense{i + 1}")(x)
        if batchnorm:
            x = BatchNormalization(**TORCH_BN, name=f"dense{i + 1}_bn")(x)
        x = keras.layers.Activation(activation, name=f"dense{i + 1}_{activation}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dense{i + 1}_dropout")(x)
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def reference_cnn(*, num_classes=10, length=6000, filters=(4, 8, 16, 32), kernel_size=5,
                  pool_size=2, dense=(128, 64), dropout=0.0, batchnorm=False, activation="relu",
                  normalize=True, name="reference_cnn"):
    """The reference's 1-D CNN on raw waveforms.

    Args (all tunable):
        num_classes: output classes.
        length: samples the waveform is padded/trimmed to (6000 = 0.75 s at 8 kHz).
        filters: channels of each Conv1D (one conv + pool block per entry).
        kernel_size: Conv1D kernel (valid padding, stride 1).
        pool_size: average-pool size and stride after each conv.
        dense: units of the hidden dense layers.
        dropout: dropout rate after each hidden dense layer (0 = none).
        batchnorm: BatchNormalization (PyTorch defaults: momentum 0.1, eps 1e-5) after
            every conv and hidden dense layer.
        activation: Keras activation name.
        normalize: a `Normalization(axis=None)` (one mean/variance over all
            training samples, adapted by `adapt`) before the first conv.
        name: model name.

    Returns:
        Uncompiled `keras.Model`: [batch, samples] -> [batch, num_classes].
    """
    _common(num_classes, length, dropout)
    filters = _as_tuple("filters", filters)
    dense = tuple(dense)
    _check("kernel_size", kernel_size, isinstance(kernel_size, int) and kernel_size > 0,
           "a positive int")
    inputs = keras.Input(shape=(None,), name="waveform")
    x = PadOrTrim(length, name="pad_or_trim")(inputs)
    if normalize:
        x = keras.layers.Normalization(axis=None, name="normalization")(x)
    x = keras.layers.Reshape((length, 1), name="channels")(x)
    for i, f in enumerate(filters):
        x = keras.layers.Conv1D(f, kernel_size, name=f"conv{i + 1}")(x)
        if batchnorm:
            x = BatchNormalization(**TORCH_BN, name=f"conv{i + 1}_bn")(x)
        x = keras.layers.Activation(activation, name=f"conv{i + 1}_{activation}")(x)
        x = keras.layers.AveragePooling1D(pool_size, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = _head(x, dense, dropout, batchnorm, activation, num_classes)
    return keras.Model(inputs, outputs, name=name)


@MODELS.register("plain")
def plain(**kwargs):
    """The reference 1-D CNN (`reference_cnn` defaults): 1,532,090 trainable parameters."""
    return reference_cnn(**{"name": "plain", **kwargs})


@MODELS.register("dropout")
def dropout(**kwargs):
    """The reference 1-D CNN with Dropout(0.5) after each hidden dense layer (`reference_cnn`)."""
    return reference_cnn(**{"name": "dropout", "dropout": 0.5, **kwargs})


@MODELS.register("batchnorm")
def batchnorm(**kwargs):
    """The reference 1-D CNN with batch normalisation (`reference_cnn(batchnorm=True)`)."""
    return reference_cnn(**{"name": "batchnorm", "batchnorm": True, **kwargs})


@MODELS.register("mfcc")
def mfcc(*, num_classes=10, length=6000, sample_rate=SAMPLE_RATE, num_coefficients=13,
         filters=(8, 16, 32), dense=(128, 64), dropout=0.0, batchnorm=True, activation="relu",
         normalize=True, name="mfcc"):
    """The reference's `net_batchnorm_mfcc`: a 2-D CNN on python_speech_features MFCC.

    6000 samples give 74 frames x 13 coefficients (25 ms / 10 ms frames, 26
    filters, pre-emphasis 0.97, lifter 22, log energy in c0), laid out as a
    13 x 74 image: Conv2D(8, (2, 3)) + BN + ReLU + AvgPool 2; Conv2D(16, 3) +
    BN + ReLU; Conv2D(32, 3) + BN + ReLU + AvgPool 2; Dense 128/64/10.

    Args (all tunable):
        num_classes, length, dense, dropout, batchnorm, activation, name: as
            `reference_cnn`.
        sample_rate: waveform sample rate (sets the MFCC frame sizes).
        num_coefficients: MFCC coefficients (the image height).
        filters: channels of the three Conv2D layers.
        normalize: a per-coefficient `Normalization` of the MFCC, adapted
            on the training split by `adapt`.

    Returns:
        Uncompiled `keras.Model`: [batch, samples] -> [batch, num_classes].
    """
    _common(num_classes, length, dropout)
    filters = _as_tuple("filters", filters)
    _check("filters", filters, len(filters) == 3, "three ints")
    inputs = keras.Input(shape=(None,), name="waveform")
    x = PadOrTrim(length, name="pad_or_trim")(inputs)
    x = MFCC(sample_rate=sample_rate, num_coefficients=num_coefficients, name="mfcc")(x)
    if normalize:
        x = keras.layers.Normalization(axis=-1, name="normalization")(x)
    x = keras.layers.Permute((2, 1), name="coefficients_by_frames")(x)
    x = keras.layers.Reshape((num_coefficients, -1, 1), name="image")(x)
    specs = [((2, 3), True), (3, False), (3, True)]
    for i, (f, (k, pool)) in enumerate(zip(filters, specs)):
        x = keras.layers.Conv2D(f, k, name=f"conv{i + 1}")(x)
        if batchnorm:
            x = BatchNormalization(**TORCH_BN, name=f"conv{i + 1}_bn")(x)
        x = keras.layers.Activation(activation, name=f"conv{i + 1}_{activation}")(x)
        if pool:
            x = keras.layers.AveragePooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = _head(x, tuple(dense), dropout, False, activation, num_classes)
    return keras.Model(inputs, outputs, name=name)


@MODELS.register("compact")
def compact(*, num_classes=10, length=8000, sample_rate=SAMPLE_RATE, num_mel_bins=40,
            frame_length=200, frame_step=80, filters=16, depth=4, kernel_size=3,
            dropout=0.2, batchnorm=True, activation="relu", normalize=True,
            relative_level=False, level_floor=18.42, lower_edge_hertz=20.0, edge_fade=0,
            utterance_norm=False, pcen=False, torch_bn=False, pool_padding="same",
            head_batchnorm=False, name="compact"):
    """Ours: a compact CNN on log-mel spectrograms with batch norm and global pooling.

    Log-mel (25 ms / 10 ms frames, 40 bins) -> per-bin `Normalization` ->
    `depth` blocks of Conv2D(3x3, same) + BN + activation + MaxPool 2 (the
    last block without pooling), filters doubling from `filters` (capped at
    8x) -> global average pooling -> dropout -> Dense softmax.

    Args (all tunable):
        num_classes, length, dropout, batchnorm, activation, name: as
            `reference_cnn` (`length` default 8000 = 1 s, which covers 99 % of
            FSDD recordings without trimming).
        sample_rate: waveform sample rate.
        num_mel_bins: mel bands.
        frame_length, frame_step: STFT frame and hop in samples.
        filters: channels of the first block.
        depth: number of conv blocks (>= 1).
        kernel_size: square conv kernel.
        normalize: per-mel-bin `Normalization` adapted on the training split.
        relative_level: log-mel relative to each recording's maximum
            (`RelativeLog`), for gain invariance across speakers.
        level_floor: `RelativeLog` floor in natural-log power (18.42 = 80 dB).
        lower_edge_hertz: lowest mel-filter frequency.
        edge_fade: fade-in/out length in samples at each recording's own ends
            (`EdgeFade`; 0 = none): removes the click of recordings cut off mid-sound.
        utterance_norm: subtract each recording's mean log-mel over its speech
            frames (`UtteranceNorm`, needs `relative_level`): removes the channel.
        pcen: per-channel energy normalisation of the mel energies relative to each
            recording's peak (`PCEN`, floored at `level_floor`) in place of the log
            (not with `relative_level`).
        torch_bn: PyTorch's batch-norm defaults (momentum 0.1 = Keras 0.9, eps
            1e-5) instead of Keras' (0.99, 1e-3).
        pool_padding: "same" or "valid" max-pooling.
        head_batchnorm: batch norm on the pooled features (before the classifier), so
            that `adapt_batchnorm` also re-centres them for a new speaker.

    Returns:
        Uncompiled `keras.Model`: [batch, samples] -> [batch, num_classes].
    """
    _common(num_classes, length, dropout)
    _check("depth", depth, isinstance(depth, int) and depth >= 1, "an int >= 1")
    _check("filters", filters, isinstance(filters, int) and filters > 0, "a positive int")
    _check("pool_padding", pool_padding, pool_padding in ("same", "valid"), '"same" or "valid"')
    _check("utterance_norm", utterance_norm, relative_level or not utterance_norm,
           "False unless relative_level=True")
    _check("pcen", pcen, not (pcen and relative_level), "False when relative_level=True")
    inputs = keras.Input(shape=(None,), name="waveform")
    x = _log_mel_image(inputs, length, sample_rate, num_mel_bins, frame_length, frame_step,
                       lower_edge_hertz, edge_fade, relative_level, level_floor, pcen,
                       utterance_norm, normalize)
    outputs = _conv_classifier(x, num_classes, filters, depth, kernel_size, dropout, batchnorm,
                               activation, TORCH_BN if torch_bn else {}, pool_padding,
                               head_batchnorm)
    return keras.Model(inputs, outputs, name=name)


def _log_mel_image(inputs, length, sample_rate, num_mel_bins, frame_length, frame_step,
                   lower_edge_hertz, edge_fade, relative_level, level_floor, pcen,
                   utterance_norm, normalize):
    """`compact`'s front end (arguments as there): waveforms [batch, samples] -> log-mel
    (or PCEN) image [batch, frames, num_mel_bins, 1]."""
    x = PadOrTrim(length, name="pad_or_trim")(inputs)
    if edge_fade:
        x = EdgeFade(edge_fade, name="edge_fade")(x)
    x = LogMel(sample_rate=sample_rate, frame_length=frame_length, frame_step=frame_step,
               num_mel_bins=num_mel_bins, lower_edge_hertz=lower_edge_hertz, name="log_mel")(x)
    if relative_level:
        x = RelativeLog(level_floor, name="relative_level")(x)
    if pcen:
        x = PCEN(level_floor, name="pcen")(x)
    if utterance_norm:
        x = UtteranceNorm(name="utterance_norm")(x)
    if normalize:
        x = keras.layers.Normalization(axis=-1, name="normalization")(x)
    return keras.layers.Reshape((-1, num_mel_bins, 1), name="image")(x)


def _conv_classifier(x, num_classes, filters, depth, kernel_size, dropout, batchnorm,
                     activation, bn_args, pool_padding, head_batchnorm):
    """`compact`'s network after the front end (arguments as there; `bn_args`: the batch-norm
    momentum and epsilon): conv blocks -> global average pooling -> class probabilities."""
    for i in range(depth):
        f = filters * min(2 ** i, 8)
        x = keras.layers.Conv2D(f, kernel_size, padding="same", use_bias=not batchnorm,
                                name=f"conv{i + 1}")(x)
        if batchnorm:
            x = BatchNormalization(**bn_args, name=f"conv{i + 1}_bn")(x)
        x = keras.layers.Activation(activation, name=f"conv{i + 1}_{activation}")(x)
        if i < depth - 1:
            x = keras.layers.MaxPooling2D(2, padding=pool_padding, name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    if head_batchnorm:
        x = BatchNormalization(**bn_args, name="global_pool_bn")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    return keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


@MODELS.register("compact_rel")
def compact_rel(**kwargs):
    """`compact` on log-mel relative to each recording's maximum (`RelativeLog`), for gain
    invariance across speakers."""
    return compact(**{"name": "compact_rel", "relative_level": True, **kwargs})


@MODELS.register("compact_robust")
def compact_robust(**kwargs):
    """`compact_rel` with `EdgeFade` (160 samples = 20 ms), `UtteranceNorm`, PyTorch batch-norm
    momentum, valid pooling, 16 mel bands from 100 Hz, 32 first-block filters and batch norm
    on the pooled features: for unseen speakers (leave-one-speaker-out), one of the two
    networks of `compact_pair`.

    From 100 Hz rather than 20: one FSDD speaker's recordings (nicolas) carry a DC offset of
    about 15 % of their RMS, which the lowest mel filters turned into a speaker cue. 16 bands
    rather than 40: a smoother spectral envelope, less of each voice's pitch harmonics
    (leave-one-speaker-out means: 40 bands 81.0 %, 24 85.7 %, 16 86.1 %, 12 86.1 %; 16 bands
    with 32 filters 87.6 %).

    Batch norm on the pooled features too (`head_batchnorm`): speaker adaptation
    (`adapt_batchnorm`) then also re-centres what the classifier sees (leave-one-speaker-out
    with adaptation: 92.4 % vs 91.7 % without it).

    Its default training (`DEFAULTS`) adds a speaker-adversarial head on the pooled
    features (`speaker_adversary`), which is not part of this model.
    """
    return compact(**{"name": "compact_robust", "relative_level": True, "edge_fade": 160,
                      "utterance_norm": True, "torch_bn": True, "pool_padding": "valid",
                      "lower_edge_hertz": 100.0, "num_mel_bins": 16, "filters": 32,
                      "head_batchnorm": True, **kwargs})


@MODELS.register("compact_pcen")
def compact_pcen(**kwargs):
    """`compact_robust` with `PCEN` in place of the relative log and `UtteranceNorm`: each
    mel band divided by its own recent level, then root-compressed.

    Alone it is no better for unseen speakers (leave-one-speaker-out with `compact_robust`'s
    defaults, seeds 1/2: 90.5/88.6 %), but its errors differ from `compact_robust`'s, so
    the two average well (`compact_pair`).
    """
    return compact_robust(**{"name": "compact_pcen", "relative_level": False,
                             "utterance_norm": False, "pcen": True, **kwargs})


@MODELS.register("compact_student")
def compact_student(**kwargs):
    """`compact_robust` with 24 first-block filters (0.22 M parameters), one pass: the student
    distilled from `compact_pair` (`tfdl.digits.distill`), small and fast enough for a phone."""
    return compact_robust(**{"name": "compact_student", "filters": 24, **kwargs})


@MODELS.register("compact_pair")
def compact_pair(*, members=("compact_robust", "compact_pcen"), **kwargs):
    """The mean of the probabilities of two (or more) differently fronted networks, trained
    one after the other (`tfdl.digits.train_and_evaluate`, `members`): our model for
    unseen speakers.

    Args:
        members: names of the registered models averaged (at least two, distinct).
        **kwargs: passed to every member's builder.

    Returns:
        Uncompiled `keras.Model` [batch, samples] -> [batch, num_classes] whose layers
        are `pad_or_trim`, the member models (nested) and their mean.
    """
    members = tuple(members)
    _check("members", members, len(members) >= 2 and len(set(members)) == len(members),
           "at least two distinct model names")
    nets = [MODELS.build(m, **kwargs) for m in members]
    inputs = keras.Input(shape=(None,), name="waveform")
    x = PadOrTrim(nets[0].get_layer("pad_or_trim").length, name="pad_or_trim")(inputs)
    probs = keras.layers.Average(name="mean_probabilities")([net(x) for net in nets])
    return keras.Model(inputs, probs, name="compact_pair")


def trainable_params(model):
    """Number of trainable weights (what PyTorch's `sum(p.nelement() for p in net.parameters())`
    counts: batch-norm running statistics and normalisation statistics are not included)."""
    return int(sum(int(tf.size(w)) for w in model.trainable_weights))


def members(model):
    """The separately trained networks of an ensemble model (`compact_pair`: the nested
    models it averages), else `[model]`."""
    return [la for la in model.layers if isinstance(la, keras.Model)] or [model]


def _owned_layers(model, kind):
    """(member network, layer) for each of `model`'s layers of type `kind` (`members`)."""
    return [(net, la) for net in members(model) for la in net.layers if isinstance(la, kind)]


def _layers_of(model, kind):
    return [la for _, la in _owned_layers(model, kind)]


def _waveforms(dataset):
    """`dataset` without its labels, if it has any."""
    return dataset.map(lambda x, *_: x) if isinstance(dataset.element_spec, tuple) else dataset


def adapt(model, dataset, max_batches=None):
    """Adapts every `keras.layers.Normalization` in `model` on `dataset` (training split only).

    The features each layer sees are computed by the model's own layers in
    front of it, so the statistics match what the layer gets at run time.

    Args:
        model: a model from this module.
        dataset: batched `tf.data.Dataset` of (waveforms, labels) or waveforms,
            without augmentation.
        max_batches: optional cap on batches used.

    Returns:
        The number of Normalization layers adapted.
    """
    ds = _waveforms(dataset)
    if max_batches:
        ds = ds.take(max_batches)
    layers = _owned_layers(model, keras.layers.Normalization)
    for net, layer in layers:
        front = keras.Model(net.inputs, layer.input)
        layer.adapt(np.concatenate([front(x, training=False).numpy() for x in ds], axis=0))
    return len(layers)
