"""The export: one SavedModel that takes one utterance's raw MFCC and labels every frame."""

from tfdl.phonemes import frames


def export_utterance_model(members, weights, export_dir, labels, context, stride=1,
                           num_features=13):
    """Exports members as one SavedModel taking a whole utterance of raw features.

    The `serve` endpoint takes `[frames, num_features]` float32 (un-normalised
    MFCC, one utterance) and does everything inside: per-utterance cepstral
    mean/variance normalisation, zero padding, context-window gathering, every
    member's forward pass and the weighted probability average. It returns
    `probabilities` [frames, classes], `class_id` [frames] and `label`
    [frames] (phone strings).

    Args:
        members: Keras models taking `[batch, 2K+1, D]` windows.
        weights: one weight per member (normalised here).
        export_dir: output folder.
        labels: phone names, index-aligned with the outputs.
        context, stride: the members' window.
        num_features: MFCC dimensions per frame.

    Returns:
        The export folder (str).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    w = np.asarray(weights, np.float32)
    w = w / w.sum()
    table = tf.constant([str(p) for p in labels])
    offsets = tf.constant(frames.window_offsets(context, stride))
    pad = context * stride

    def serve(x):
        x = frames.cmvn_tf(x)
        padded = tf.pad(x, [[pad, pad], [0, 0]])
        centers = tf.range(tf.shape(x)[0], dtype=tf.int64) + pad
        windows = frames.gather_windows(padded, centers, offsets)
        probs = tf.add_n([float(wi) * m(windows, training=False) for wi, m in zip(w, members)])
        ids = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return {"probabilities": probs, "class_id": ids, "label": tf.gather(table, ids)}

    archive = keras.export.ExportArchive()
    for m in members:
        archive.track(m)
    archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec([None, num_features], tf.float32, name="mfcc")])
    archive.write_out(str(export_dir), verbose=False)
    return str(export_dir)
