"""For voices the training never heard: test-time averaging, adversarial training, AdaBN.

* `tta_ensemble`: probabilities averaged over playback speeds and time shifts.
* `speaker_adversary`: a speaker classifier behind gradient reversal (training only).
* `adapt_batchnorm` / `speaker_adapted_predictions`: unsupervised adaptation of
  the batch-norm statistics to a new speaker, cross-fitted so that no
  recording is scored by a model adapted on it.
"""

import keras
import numpy as np
import tensorflow as tf

from tfdl.digits.layers import ChangeSpeed, Delay
from tfdl.digits.model import _check, _layers_of, _owned_layers, _waveforms
from tfdl.features import PadOrTrim
from tfdl.layers import GradientReversal


def tta_ensemble(model, speeds=(1.0,), shifts=(0,), length=None):
    """Test-time augmentation (TTA): `model`'s probabilities averaged over playback speeds
    and time shifts.

    Each waveform is delayed by each of `shifts` samples (`Delay`: zeros in front, as
    the training time shift fills them), padded or trimmed to `length` (default: the
    model's `pad_or_trim` length), played at each of `speeds` (`ChangeSpeed`; 1.0 = as
    is) and classified; the output is the mean of the `len(shifts) * len(speeds)`
    probabilities. For a model trained with speed perturbation the speeds average over
    voices a little higher and lower than the speaker's own; the shifts average over
    where the word falls on the pooling grid.

    Returns:
        A `keras.Model` sharing `model`'s layers: `(batch, samples)` ->
        `(batch, num_classes)`.
    """
    speeds = tuple(float(f) for f in speeds)
    _check("speeds", speeds, speeds and all(f > 0 for f in speeds),
           "a non-empty sequence of positive factors")
    shifts = tuple(shifts)
    _check("shifts", shifts, shifts and all(isinstance(s, int) and s >= 0 for s in shifts),
           "a non-empty sequence of ints >= 0")
    length = length or model.get_layer("pad_or_trim").length
    inputs = keras.Input(shape=(None,), name="waveform")
    outs = []
    for j, s in enumerate(shifts):
        x = inputs if s == 0 else Delay(s, name=f"shift_{j}")(inputs)
        x = PadOrTrim(length, name=f"pad_or_trim_{j}" if j else "pad_or_trim")(x)
        outs += [model(x if f == 1.0 else ChangeSpeed(f, name=f"speed_{j}_{i}")(x))
                 for i, f in enumerate(speeds)]
    probs = outs[0] if len(outs) == 1 else keras.layers.Average(name="mean_probabilities")(outs)
    return keras.Model(inputs, probs, name=f"{model.name}_tta_ensemble")


def speaker_adversary(model, num_speakers, scale, features="global_pool", hidden=64):
    """A training model: `model` plus a speaker classifier behind gradient reversal.

    Domain-adversarial training (Ganin and Lempitsky 2015) with the training
    speakers as the domains: a small head (Dense `hidden` + ReLU -> speaker
    logits) reads the output of `model`'s layer `features` through
    `GradientReversal(scale)`. Trained on the sum of the digit and speaker
    losses, the head learns to name the speaker while the layers below
    `features` get the opposite gradient and learn features that hide the
    voice, which is what a new speaker needs. Only the returned model has
    the head; `model` (what is evaluated and exported) shares every other
    layer and is unchanged in shape.

    Args:
        model: a digits model with a layer named `features`.
        num_speakers: number of training speakers (>= 2).
        scale: weight of the reversed gradient (> 0).
        features: name of the layer whose output the head reads.
        hidden: width of the head's hidden layer.

    Returns:
        A `keras.Model`: waveforms -> {"probabilities": model's output,
        "speaker": [batch, num_speakers] logits}.
    """
    _check("num_speakers", num_speakers, isinstance(num_speakers, int) and num_speakers >= 2,
           "an int >= 2")
    _check("scale", scale, scale > 0, "> 0")
    x = GradientReversal(scale, name="speaker_reversal")(model.get_layer(features).output)
    x = keras.layers.Dense(hidden, activation="relu", name="speaker_hidden")(x)
    speaker = keras.layers.Dense(num_speakers, name="speaker")(x)
    return keras.Model(model.inputs, {"probabilities": model.output, "speaker": speaker},
                       name=f"{model.name}_speaker_adversary")


def adapt_batchnorm(model, dataset):
    """Every batch-norm layer's moving mean and variance become the statistics of its
    input on `dataset`.

    On the training split after training, this is PreciseBN (exact population
    statistics in place of the lagging moving averages; `tfdl.digits.train`
    does it for every run). On one new speaker's recordings, it is unsupervised
    speaker adaptation (AdaBN, Li et al. 2018): `dataset` holds unlabeled
    recordings of one new speaker (or microphone).
    Training normalised each layer with the four training speakers'
    statistics; a new voice shifts them, and re-estimating them from the new
    speaker's own recordings removes that shift. No labels and no gradient
    steps: layers are adapted in order, each on the output of the layers in
    front of it as already adapted.

    Args:
        model: a model from this module (or any Keras model with batch norm).
        dataset: batched `tf.data.Dataset` of waveforms or (waveforms, labels);
            labels are ignored.

    Returns:
        The number of batch-norm layers adapted.
    """
    layers = _owned_layers(model, keras.layers.BatchNormalization)
    inputs = _waveforms(dataset)
    for net, layer in layers:
        front = keras.Model(net.inputs, layer.input)
        total = total_sq = 0.0
        count = 0
        for x in inputs:
            f = tf.cast(front(x, training=False), tf.float64)
            axes = list(range(len(f.shape) - 1))
            total += tf.reduce_sum(f, axes)
            total_sq += tf.reduce_sum(f * f, axes)
            count += int(np.prod(f.shape[:-1]))
        if not count:
            raise ValueError("adapt_batchnorm needs at least one recording. Received: an "
                             "empty dataset")
        mean = total / count
        layer.moving_mean.assign(tf.cast(mean, tf.float32))
        layer.moving_variance.assign(tf.cast(tf.maximum(total_sq / count - mean * mean, 0.0),
                                             tf.float32))
    return len(layers)


def batchnorm_state(model):
    """The moving statistics of every batch-norm layer (to restore after `adapt_batchnorm`)."""
    return [(la.moving_mean.numpy(), la.moving_variance.numpy())
            for la in _layers_of(model, keras.layers.BatchNormalization)]


def restore_batchnorm(model, state):
    """Sets the batch-norm moving statistics saved by `batchnorm_state`."""
    layers = _layers_of(model, keras.layers.BatchNormalization)
    for layer, (mean, variance) in zip(layers, state, strict=True):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)


ADAPTATION_NOTE = ("AdaBN per test speaker, 2-fold cross-fitted: batch-norm statistics "
                   "re-estimated on half of the speaker's recordings (no labels) score the "
                   "other half, and vice versa")


def speaker_adapted_predictions(model, served, test, unadapted, batch_size, length):
    """Probabilities of `test` with unsupervised speaker adaptation, never adapted on the
    recording being scored.

    For each test speaker, the recordings are dealt into two halves (alternately, in
    file-name order); `adapt_batchnorm` re-estimates `model`'s batch-norm statistics on
    one half (labels unused) and `served` (the model or its test-time ensemble, sharing
    its layers) scores the other half, then the halves swap. A speaker with a single
    recording is scored unadapted. `model`'s statistics are restored afterwards, so what
    is exported is the speaker-independent model.

    Args:
        model: the trained model (its batch-norm layers are adapted).
        served: what scores: `model` or a model sharing its layers.
        test: list of `tfdl.digits.data.Recording`.
        unadapted: `served`'s probabilities of `test` (kept for single-recording speakers).
        batch_size, length: as the test pipeline.

    Returns:
        `[len(test), num_classes]` probabilities in the order of `test`.
    """
    from tfdl.digits import data
    from tfdl.pipeline import waveform_dataset

    def dataset(idx):
        paths, labels = data.paths_and_labels([test[i] for i in idx])
        return waveform_dataset(paths, labels, sample_rate=data.SAMPLE_RATE, length=length,
                                batch_size=batch_size)

    state = batchnorm_state(model)
    probs = np.array(unadapted, copy=True)
    for speaker in sorted({r.speaker for r in test}):
        idx = sorted((i for i, r in enumerate(test) if r.speaker == speaker),
                     key=lambda i: test[i].path.name)
        if len(idx) < 2:
            continue
        for half in (idx[0::2], idx[1::2]):
            rest = sorted(set(idx) - set(half))
            adapt_batchnorm(model, dataset(rest))  # sets every layer's statistics
            probs[half] = served.predict(dataset(half), verbose=0)
    restore_batchnorm(model, state)
    return probs
