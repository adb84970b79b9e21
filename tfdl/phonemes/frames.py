"""Context windows of MFCC frames: normalise, pack, and gather them in tf.data.

Training frames never exist as a `(2K + 1)`-times-larger copy: each utterance
is normalised (cepstral mean and variance) and padded once with `K * stride`
zero frames on both sides into one `[N_padded, D]` array (`pack`), and
tf.data gathers the `[batch, 2K + 1, D]` context windows by index per batch
(`frame_dataset`). The export does the same inside its graph
(`tfdl.phonemes.serve`), with `cmvn_tf` and `gather_windows`.
"""

from dataclasses import dataclass, field

import numpy as np

from tfdl.errors import InputError


def cmvn(x, eps=1e-5):
    """Cepstral mean and variance normalisation of one utterance [T, D] (numpy)."""
    x = np.asarray(x, np.float32)
    y = (x - x.mean(axis=0, keepdims=True)) / (x.std(axis=0, keepdims=True) + eps)
    return y.astype(np.float32)


def cmvn_tf(x, eps=1e-5):
    """`cmvn` in TensorFlow, for the exported model (same formula, population std)."""
    import tensorflow as tf

    mean = tf.reduce_mean(x, axis=0, keepdims=True)
    return (x - mean) / (tf.math.reduce_std(x, axis=0, keepdims=True) + eps)


def window_offsets(context, stride=1):
    """Frame offsets of a +-`context` window: `[-K, ..., K] * stride`."""
    return np.arange(-context, context + 1, dtype=np.int64) * int(stride)


@dataclass
class FrameSet:
    """Utterances packed for context-window gathering.

    Attributes:
        features: [N_padded, D] float32: each utterance normalised and padded
            with `pad` zero frames on both sides, concatenated.
        centers: [N] int64 row of each real frame in `features`.
        labels: [N] int32 phone ids.
        spans: [(name, first, stop)] each utterance's slice of `centers`.
        pad: frames of padding on each side of every utterance.
    """

    features: np.ndarray
    centers: np.ndarray
    labels: np.ndarray
    spans: list = field(default_factory=list)
    pad: int = 0

    def __len__(self):
        return int(len(self.centers))


def pack(utterances, phone_index, pad):
    """Normalises and pads each utterance once and concatenates them into a `FrameSet`."""
    if not utterances:  # e.g. no validation utterances
        return FrameSet(np.zeros((0, 0), np.float32), np.zeros(0, np.int64),
                        np.zeros(0, np.int32), [], pad)
    blocks, centers, labels, spans = [], [], [], []
    row, first = 0, 0
    for u in utterances:
        x = cmvn(u.features)
        t = len(x)
        blocks.append(np.pad(x, ((pad, pad), (0, 0))))
        centers.append(np.arange(row + pad, row + pad + t, dtype=np.int64))
        labels.append(np.array([phone_index[p] for p in u.phones], np.int32))
        spans.append((u.name, first, first + t))
        row += t + 2 * pad
        first += t
    return FrameSet(np.concatenate(blocks).astype(np.float32), np.concatenate(centers),
                    np.concatenate(labels), spans, pad)


def gather_windows(features, centers, offsets):
    """[batch, 2K+1, D] context windows: `features[centers[:, None] + offsets]` (tf.gather)."""
    import tensorflow as tf

    return tf.gather(features, tf.expand_dims(centers, -1) + offsets)


def frame_dataset(frames, context, stride=1, batch_size=256, training=False, seed=0):
    """tf.data pipeline of (context windows [B, 2K+1, D], labels [B]) batches.

    Training: an endless stream of full batches, a fresh stateless permutation
    of all frames per pass (so `steps_per_epoch` may cover any subsample).
    Evaluation: every frame once, in order. Windows are gathered per batch from
    the padded array; nothing K-times larger is ever stored.
    """
    import tensorflow as tf

    if context * stride > frames.pad:
        raise ValueError(f"context * stride must be <= the packing pad. Received: "
                         f"context={context}, stride={stride}, pad={frames.pad}")
    feats = tf.constant(frames.features)
    centers = tf.constant(frames.centers)
    labels = tf.constant(frames.labels)
    offsets = tf.constant(window_offsets(context, stride))
    n = len(frames)

    def windows(idx):
        c = tf.gather(centers, idx)
        return gather_windows(feats, c, offsets), tf.gather(labels, idx)

    if training:
        steps = n // batch_size
        if steps < 1:
            raise InputError(f"--config.batch_size={batch_size} is larger than the {n} "
                             f"training frames")

        def permutation(epoch):
            p = tf.random.experimental.stateless_shuffle(
                tf.range(n, dtype=tf.int64), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
            return tf.reshape(p[:steps * batch_size], [steps, batch_size])

        ds = tf.data.Dataset.range(2 ** 31).map(permutation).unbatch()
    else:
        starts = tf.range(0, n, batch_size, dtype=tf.int64)
        ds = tf.data.Dataset.from_tensor_slices(starts).map(
            lambda s: tf.range(s, tf.minimum(s + batch_size, n)))
    return ds.map(windows, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
