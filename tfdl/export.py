"""SavedModel export with serving signatures that take raw inputs.

`export_classifier` writes a SavedModel whose `serving_default` takes a batch
of raw float waveforms (any length: the model pads/trims inside) and returns
class probabilities, class ids and label strings; the label list travels in
the SavedModel. Reload with `tf.saved_model.load(path).serve(x)` or the
`serving_default` signature.
"""

import keras
import tensorflow as tf


def export_classifier(model, export_dir, labels, input_signature=None):
    """Exports a classifier with a probabilities/class_id/label signature.

    Args:
        model: Keras model mapping inputs to class probabilities [batch, classes].
        export_dir: output folder (replaced).
        labels: class names, index-aligned with the model's outputs.
        input_signature: default `[tf.TensorSpec([None, None], tf.float32)]`
            (a batch of waveforms of any length).

    Returns:
        The export path as a string.
    """
    labels = [str(label) for label in labels]
    if model.output_shape[-1] != len(labels):
        raise ValueError(f"labels must have one name per model output. Received: "
                         f"{len(labels)} labels for {model.output_shape[-1]} outputs")
    spec = input_signature or [tf.TensorSpec([None, None], tf.float32, name="waveforms")]
    table = tf.constant(labels)

    def serve(x):
        probs = model(x, training=False)
        ids = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return {"probabilities": probs, "class_id": ids, "label": tf.gather(table, ids)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=spec)
    archive.write_out(str(export_dir), verbose=False)
    return str(export_dir)


def export_function(model, export_dir, fn, input_signature, name="serve"):
    """Exports `fn` (which calls `model`) as the SavedModel's serving signature."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name, fn, input_signature=input_signature)
    archive.write_out(str(export_dir), verbose=False)
    return str(export_dir)


def load(export_dir):
    """Loads an exported SavedModel; call it as `load(path).serve(x)`.

    Keep the returned object alive while using `serve`: its variables belong to it.
    """
    return tf.saved_model.load(str(export_dir))
