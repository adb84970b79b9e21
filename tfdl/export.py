"""SavedModel and TFLite export with serving signatures that take raw inputs.

`export_classifier` writes a SavedModel whose `serve` endpoint takes a batch of
raw float waveforms (any length: the model pads/trims inside) and returns class
probabilities, class ids and label strings; the label list travels in the
SavedModel, and `assets.extra/tfdl.json` holds the export's metadata (labels,
and what the caller adds: task, sample rate, ...). `write_tflite` converts such
an export to `model.tflite` beside it (TFLite built-in ops only, any input
length). `load` opens either kind; call it as `load(path).serve(x)`.
"""

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfdl.errors import InputError

META_FILE = "tfdl.json"  # <export>/assets.extra/tfdl.json
WAVEFORM_SPEC = tf.TensorSpec([None, None], tf.float32, name="waveforms")
# What a waveform export accepts: float32 samples in [-1, 1] (int16 PCM divided by 32768);
# peaks up to 2 pass (resampling can overshoot a clipped recording a little).
MAX_PEAK = 2.0
EMPTY = "waveforms must not be empty"
NOT_FINITE = "waveforms must be finite (NaN or Inf found)"
NOT_SCALED = ("waveforms must be float32 samples in [-1, 1] (int16 PCM: divide by 32768; "
              "peak above 2 found)")
_OLD_META_FILES = ("tfdl_keywords.json",)  # written by tfdl 0.1 keywords exports
TFLITE_FILE = "model.tflite"
INT8_FILE = "model_int8.tflite"
INT8_CLIPS = 200  # training clips that set an int8 model's activation ranges
# The int8 part of a model: these ops and every op downstream of one (`float_front_end`).
QUANTISED_FROM = ("CONV_2D", "DEPTHWISE_CONV_2D")
ENDPOINT = "serve"


def checked_waveforms(x):
    """`x` [batch, samples] after in-graph checks: non-empty, finite, scaled to [-1, 1].

    A bad input makes the SavedModel's `serve` fail (InvalidArgumentError with
    one of the messages above) instead of answering as if it were audio. TFLite
    drops these assert ops; `TFLiteModel.serve` checks in NumPy instead.
    """
    checks = [tf.debugging.assert_greater(tf.size(x), 0, message=EMPTY),
              tf.debugging.assert_all_finite(x, message=NOT_FINITE),
              tf.debugging.assert_less_equal(tf.reduce_max(tf.abs(x)), MAX_PEAK,
                                             message=NOT_SCALED)]
    with tf.control_dependencies(checks):
        return tf.identity(x)


def check_waveforms(x):
    """NumPy twin of `checked_waveforms`: float32 `[batch, samples]`, or a one-line InputError."""
    x = np.asarray(x.numpy() if tf.is_tensor(x) else x)
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{NOT_SCALED.split(' (')[0]}: received {x.dtype} (int16 PCM: "
                         f"divide by 32768)")
    x = x.astype(np.float32)
    if x.size == 0:
        raise InputError(EMPTY)
    if not np.all(np.isfinite(x)):
        raise InputError(NOT_FINITE)
    if np.abs(x).max() > MAX_PEAK:
        raise InputError(NOT_SCALED)
    return x


def export_classifier(model, export_dir, labels, input_signature=None, metadata=None):
    """Exports a classifier with a probabilities/class_id/label signature.

    Args:
        model: Keras model mapping inputs to class probabilities [batch, classes].
        export_dir: output folder (replaced).
        labels: class names, index-aligned with the model's outputs.
        input_signature: default `[WAVEFORM_SPEC]`: a batch of float32 waveforms
            of any length, checked by `checked_waveforms` (other signatures, e.g.
            images, are passed as they are).
        metadata: extra JSON-ready fields for `assets.extra/tfdl.json`
            (e.g. `task`, `sample_rate`).

    Returns:
        The export path as a string.
    """
    labels = [str(label) for label in labels]
    if model.output_shape[-1] != len(labels):
        raise ValueError(f"labels must have one name per model output. Received: "
                         f"{len(labels)} labels for {model.output_shape[-1]} outputs")
    spec = input_signature or [WAVEFORM_SPEC]
    table = tf.constant(labels)

    def serve(x):
        probs = model(x if input_signature else checked_waveforms(x), training=False)
        ids = tf.argmax(probs, axis=-1, output_type=tf.int32)
        return {"probabilities": probs, "class_id": ids, "label": tf.gather(table, ids)}

    export_function(model, export_dir, serve, spec)
    write_metadata(export_dir, {**(metadata or {}), "labels": labels})
    return str(export_dir)


def ship_classifier(model, export_dir, labels, *, metadata, clip_samples, repeats=30,
                    int8_clips=None):
    """The export a classifier run ships: SavedModel, `model.tflite`, and what they cost.

    `export_classifier`, then `write_tflite` (and `write_tflite_int8` from
    `int8_clips` when given); each is timed on one clip of `clip_samples`
    (batch of 1, median of `repeats`).

    Returns:
        JSON-ready dict: `export` and `tflite` paths, `export_bytes` and
        `tflite_bytes` on disk, `export_latency_ms_per_clip` and
        `tflite_latency_ms_per_clip`; with `int8_clips`, `int8_tflite`,
        `int8_tflite_bytes` and `int8_tflite_latency_ms_per_clip` too.
    """
    export_classifier(model, export_dir, labels, metadata=metadata)
    files = {"tflite": write_tflite(export_dir)}
    if int8_clips is not None:
        files["int8_tflite"] = write_tflite_int8(export_dir, int8_clips)
    shipped = {"export": str(export_dir), "export_bytes": size_bytes(export_dir),
               "export_latency_ms_per_clip": latency_ms(load(export_dir), clip_samples, repeats)}
    for key, path in files.items():
        shipped.update({key: str(path), f"{key}_bytes": size_bytes(path),
                        f"{key}_latency_ms_per_clip": latency_ms(load(path), clip_samples,
                                                                 repeats)})
    return shipped


def export_function(model, export_dir, fn, input_signature, name=ENDPOINT, extra=None):
    """Exports `fn` (which calls `model`) as the SavedModel's serving signature, and each
    `extra` endpoint ({name: (fn, input_signature)}) beside it."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name, fn, input_signature=input_signature)
    for other, (other_fn, signature) in (extra or {}).items():
        archive.add_endpoint(other, other_fn, input_signature=signature)
    archive.write_out(str(export_dir), verbose=False)
    return str(export_dir)


def write_metadata(export_dir, metadata):
    """Writes `metadata` (a JSON-ready dict) to `<export_dir>/assets.extra/tfdl.json`."""
    extra = Path(export_dir) / "assets.extra"
    extra.mkdir(parents=True, exist_ok=True)
    (extra / META_FILE).write_text(json.dumps(metadata, indent=2) + "\n")


def read_metadata(export_dir):
    """The export's `assets.extra/tfdl.json` as a dict ({} if it has none)."""
    extra = Path(export_dir) / "assets.extra"
    for name in (META_FILE, *_OLD_META_FILES):
        if (extra / name).is_file():
            return json.loads((extra / name).read_text())
    return {}


def write_tflite(export_dir, signature=ENDPOINT):
    """Converts the SavedModel in `export_dir` to `<export_dir>/model.tflite`.

    TFLite built-in ops only (no Select TF ops, so the file runs with the plain
    LiteRT runtime), float32, and the input keeps its dynamic length: the
    interpreter resizes it per call.

    Returns:
        The `.tflite` path.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(str(export_dir),
                                                         signature_keys=[signature])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path = Path(export_dir) / TFLITE_FILE
    path.write_bytes(converter.convert())
    return path


def write_tflite_int8(export_dir, clips, signature=ENDPOINT):
    """`<export_dir>/model_int8.tflite`: the network in int8, its audio front end in float.

    Post-training quantisation with TFLite's converter (scales from `clips`, the
    representative set). Quantising the whole graph also quantises the raw
    waveform, the framing, FFT, mel and log, and the digits student fell from
    100 % to 33.6 % (docs/experiments/digits.md); so the front end
    (`float_front_end` of `model.tflite`, which must exist: `write_tflite`)
    stays float32, by name, through TFLite's QuantizationDebugger denylist. The
    convolutions, pooling and dense head run in int8; the input (raw float32
    samples of any length) and outputs are as in `model.tflite`.

    Args:
        export_dir: a SavedModel folder holding `model.tflite`.
        clips: float32 [n, samples] training clips for the activation ranges.
        signature: the endpoint to convert.

    Returns:
        The `.tflite` path.

    Raises:
        ValueError: the model has no convolution to start the int8 part at.
    """
    export_dir = Path(export_dir)
    interpreter = _interpreter(export_dir / TFLITE_FILE)
    front = float_front_end(interpreter)
    (name,) = interpreter.get_signature_runner(signature).get_input_details()
    clips = np.asarray(clips, np.float32)

    def representative():
        for clip in clips:
            yield {name: clip[None]}

    converter = tf.lite.TFLiteConverter.from_saved_model(str(export_dir),
                                                         signature_keys=[signature])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                           tf.lite.OpsSet.TFLITE_BUILTINS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=front))
    path = export_dir / INT8_FILE
    path.write_bytes(debugger.get_nondebug_quantized_model())
    return path


def float_front_end(interpreter):
    """Output tensor names of the ops no convolution feeds: the front end(s) to keep float.

    An op is in the network when it is a convolution (`QUANTISED_FROM`) or takes
    a tensor the network made; every other op (framing, FFT, mel, log, the
    normalisations: each pass's own in a test-time ensemble) is the front end.
    TFLite lists ops in an order where each comes after what feeds it.

    Raises:
        ValueError: no convolution at all.
    """
    ops = interpreter._get_ops_details()  # LiteRT has no public op listing
    network_tensors, front = set(), []
    for op in ops:
        if op["op_name"] in QUANTISED_FROM or network_tensors.intersection(op["inputs"]):
            network_tensors.update(op["outputs"])
        else:
            front.append(interpreter._get_tensor_details(op["outputs"][0], 0)["name"])
    if not network_tensors:
        raise ValueError(f"no {' or '.join(QUANTISED_FROM)} op to quantise from")
    return front


def _interpreter(path):
    """LiteRT's interpreter (`ai-edge-litert`), or TensorFlow's deprecated one without it."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # e.g. Windows, where ai-edge-litert has no wheels.
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))


class TFLiteModel:
    """A `.tflite` file behind the same `serve(x)` call as a loaded SavedModel.

    Args:
        path: the `.tflite` file.
        signature: the signature to run.

    `serve` returns a dict of tensors, as the SavedModel's endpoint does.
    """

    def __init__(self, path, signature=ENDPOINT):
        self.path = Path(path)
        interpreter = _interpreter(self.path)
        runner = interpreter.get_signature_runner(signature)
        (self._input,) = runner.get_input_details()
        self._interpreter, self._runner = interpreter, runner

    def serve(self, x):
        x = check_waveforms(x)
        return {k: tf.constant(v) for k, v in self._runner(**{self._input: x}).items()}


def load(path, task=None):
    """Loads an export: a SavedModel folder, or a `.tflite` file; call `.serve(x)`.

    Keep the returned object alive while using `serve`: its variables belong to it.

    Args:
        path: the SavedModel folder or `.tflite` file.
        task: the task the caller serves ("digits", ...): an export whose
            metadata names another task is refused.

    Raises:
        InputError: no SavedModel or `.tflite` file at `path`, or another task's export.
    """
    path = Path(path)
    other = read_metadata(export_dir_of(path)).get("task")
    if task and other and other != task:
        raise InputError(f"{path} is a {other} export, not a {task} one (pass the "
                         f"--export_dir of a {task} run)")
    if path.suffix == ".tflite":
        if not path.is_file():
            raise InputError(f"TFLite model not found: {path}")
        return TFLiteModel(path)
    if not (path / "saved_model.pb").is_file():
        raise InputError(f"no SavedModel in {path} (expected {path / 'saved_model.pb'})")
    return tf.saved_model.load(str(path))


def representative_indices(count, seed, n=INT8_CLIPS):
    """`n` of `count` training items drawn at random (seeded): an int8 model's
    representative set for `write_tflite_int8`."""
    return np.random.default_rng(seed).permutation(count)[:n]


def accuracy(path, waves, labels):
    """Accuracy of the classifier export at `path` (SavedModel or `.tflite`) on `waves`
    (float32 [n, samples]), one clip per call as on a device."""
    served = load(path)
    guesses = [int(np.argmax(served.serve(np.asarray(w, np.float32)[None])["probabilities"]))
               for w in waves]
    return float(np.mean(np.array(guesses) == np.asarray(labels)))


def export_dir_of(path):
    """The export folder of `path` (the folder itself, or a `.tflite` file's folder)."""
    path = Path(path)
    return path.parent if path.suffix == ".tflite" else path


def median_seconds(call, repeats, warmup=1):
    """Median wall-clock seconds of `call()` over `repeats` timed calls, after `warmup`
    untimed ones (tracing, allocation). The timing loop behind the export latencies and the
    measured real-time factors (`stream` times its one real pass itself); `call` must wait
    for its result (`.numpy()`)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def latency_ms(served, samples, repeats=30, warmup=3):
    """Median milliseconds for `served.serve` to process one clip of `samples` (batch of 1).

    A fixed pseudo-random clip; `warmup` untimed calls first (tracing, allocation).
    """
    x = np.random.default_rng(0).uniform(-0.1, 0.1, [1, int(samples)]).astype(np.float32)
    x = tf.constant(x) if not isinstance(served, TFLiteModel) else x

    def call():
        out = served.serve(x)
        next(iter(out.values())).numpy() if isinstance(out, dict) else out.numpy()

    return median_seconds(call, repeats, warmup) * 1000


def size_bytes(path):
    """Bytes on disk of a file, or of a SavedModel folder (without its `.tflite` files)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*")
               if p.is_file() and p not in (path / TFLITE_FILE, path / INT8_FILE))
