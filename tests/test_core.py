"""Core modules: metrics, workdir, train, export, plots, data.find_dataset."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfdl import data, export, metrics, plots, train
from tfdl import layers as train_layers
from tfdl.errors import InputError, TrainingDiverged
from tfdl.workdir import Workdir, write_json


# ----------------------------------------------------------------------------- metrics


def test_confusion_matrix_and_report_by_hand():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0, 2]
    cm = metrics.confusion_matrix(y_true, y_pred, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    rep = metrics.classification_report(y_true, y_pred, ["a", "b", "c", "d"])
    assert rep["accuracy"] == pytest.approx(4 / 6)
    assert rep["per_class_accuracy"] == {"a": 0.5, "b": pytest.approx(2 / 3), "c": 1.0, "d": None}
    assert rep["num_examples"] == 6
    json.dumps(rep)  # JSON-ready
    with pytest.raises(ValueError, match="differ in length"):
        metrics.confusion_matrix([0, 1], [0], 2)


def test_snr_and_si_sdr_by_hand():
    s = np.array([1.0, -1.0, 1.0, -1.0])
    assert metrics.snr(s, s + 0.1) == pytest.approx(10 * math.log10(4 / 0.04), abs=1e-6)
    assert math.isfinite(metrics.snr(s, s)) and metrics.snr(s, s) > 100
    assert metrics.si_sdr(s, 3 * s) > 100  # scale-invariant
    assert metrics.si_sdr(s, s + np.array([0.1, 0.1, -0.1, -0.1])) == pytest.approx(20.0, abs=1e-6)


# ----------------------------------------------------------------------------- workdir


def test_write_json_atomic_and_refuses_nan(tmp_path):
    p = tmp_path / "a" / "x.json"
    write_json(p, {"v": np.float32(1.5), "arr": np.arange(3), "path": tmp_path})
    assert json.loads(p.read_text())["arr"] == [0, 1, 2]
    with pytest.raises(ValueError):
        write_json(p, {"v": float("nan")})
    assert json.loads(p.read_text())["v"] == 1.5  # the old file is intact
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]  # no temp file left behind


def test_workdir_removes_stale_metrics(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    wd = Workdir(tmp_path)
    assert not (tmp_path / "metrics.json").exists()
    assert wd.checkpoint.parent.is_dir()
    assert wd.write_json("config.json", {"a": 1}).read_text().strip().startswith("{")


# ----------------------------------------------------------------------------- train


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "adagrad"}, "optimizer"),
    ({"schedule": "step"}, "schedule"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"schedule": "cosine"}, "decay_steps"),
])
def test_make_optimizer_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train.make_optimizer(**kwargs)


def test_make_optimizer_kinds():
    assert isinstance(train.make_optimizer("momentum", 0.1), keras.optimizers.SGD)
    opt = train.make_optimizer("adam", 1e-3, "cosine", decay_steps=10)
    assert float(opt.learning_rate) == pytest.approx(1e-3)  # step 0 of the schedule
    assert isinstance(train.make_optimizer("adamw", 1e-3), keras.optimizers.AdamW)


def _tiny_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


def _tiny_data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8), x


def test_fit_writes_history_checkpoint_and_tensorboard(tmp_path):
    keras.utils.set_random_seed(0)
    model = _tiny_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ds, _ = _tiny_data()
    wd = Workdir(tmp_path)
    hist = train.fit(model, ds, ds, workdir=wd, epochs=2, batch_size=8, verbose=0)
    assert len(hist["loss"]) == 2 and len(hist["examples_per_sec"]) == 2
    assert hist["steady_examples_per_sec"] > 0
    assert json.loads((tmp_path / "history.json").read_text())["loss"] == hist["loss"]
    assert wd.checkpoint.is_file()
    assert any((tmp_path / "tensorboard").rglob("events.out.tfevents*"))
    with pytest.raises(ValueError, match="epochs"):
        train.fit(model, ds, workdir=wd, epochs=0, batch_size=8)


def test_fit_stops_with_one_line_error_when_the_loss_is_nan(tmp_path):
    model = _tiny_model()
    model.compile("sgd", lambda y, p: tf.reduce_mean(p) * np.nan)
    ds, _ = _tiny_data()
    with pytest.raises(TrainingDiverged, match=r"loss is nan in epoch 1; try a lower "
                                               r"--learning_rate"):
        train.fit(model, ds, workdir=Workdir(tmp_path), epochs=3, batch_size=8, verbose=0)
    assert not (tmp_path / "history.json").exists()


def _bn_net():
    inputs = keras.Input((5,))
    x = keras.layers.Dense(6, activation="tanh")(inputs)
    x = train_layers.BatchNormalization(momentum=0.9)(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("batch,parts", [(8, 2), (7, 2), (7, 3), (1, 2)])
def test_microbatches_step_equals_per_part_oracle(batch, parts):
    """One SGD step with `use_microbatches`: every weight (moving statistics included) as
    computed by hand from the parts' forward passes and the batch-weighted loss."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 5)).astype(np.float32)
    y = rng.integers(0, 3, batch)
    model, oracle = _bn_net(), _bn_net()
    oracle.set_weights(model.get_weights())
    train.use_microbatches(model, parts)
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    hist = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)

    base = batch // parts
    sizes = [batch - base * (parts - 1)] + [base] * (parts - 1) if base else [batch]
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        losses = []
        for xs, ys in zip(np.split(x, np.cumsum(sizes)[:-1]), np.split(y, np.cumsum(sizes)[:-1])):
            losses.append(loss_fn(ys, oracle(xs, training=True)) * len(xs) / batch)
        loss = tf.add_n(losses)
    grads = tape.gradient(loss, oracle.trainable_weights)
    for w, g in zip(oracle.trainable_weights, grads):
        w.assign(w - 0.5 * g)
    for got, want in zip(model.weights, oracle.weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=got.path)
    assert hist.history["loss"][0] == pytest.approx(float(loss), rel=1e-5)


def test_microbatches_errors_and_reset():
    model = _bn_net()
    with pytest.raises(ValueError, match="microbatches must be a positive integer"):
        train.use_microbatches(model, 0)
    train.use_microbatches(model, 2)
    assert "train_step" in vars(model)
    train.use_microbatches(model, 1)
    assert "train_step" not in vars(model)  # Keras' own step again
    assert train.cpu_threads(2, 2) is None  # TensorFlow already started in this process


def test_log_hparams_and_image(tmp_path):
    wd = Workdir(tmp_path)
    train.log_hparams(wd, {"lr": 0.1, "model": "x", "filters": (1, 2)}, {"acc": 0.5})
    png = plots.confusion_matrix(np.eye(3, dtype=int), ["a", "b", "c"], tmp_path / "cm.png")
    train.log_image(wd, "cm", png)
    assert any((tmp_path / "tensorboard" / "hparams").iterdir())
    assert any((tmp_path / "tensorboard" / "images").iterdir())


# ----------------------------------------------------------------------------- export, plots


@pytest.mark.smoke
def test_export_classifier_round_trip(tmp_path):
    inputs = keras.Input((None,))
    x = keras.layers.Lambda(lambda t: tf.stack([tf.reduce_mean(t, -1),
                                                tf.reduce_max(t, -1)], -1))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    export.export_classifier(model, tmp_path / "export", ["no", "yes"])
    loaded = export.load(tmp_path / "export")
    wav = np.random.default_rng(0).uniform(-1, 1, size=(3, 50)).astype(np.float32)
    out = loaded.serve(wav)
    np.testing.assert_allclose(out["probabilities"].numpy(), model(wav).numpy(), rtol=1e-5)
    assert [s.decode() for s in out["label"].numpy()] == [
        ["no", "yes"][i] for i in out["class_id"].numpy()]
    with pytest.raises(ValueError, match="labels"):
        export.export_classifier(model, tmp_path / "e2", ["a", "b", "c"])


def test_median_seconds_times_only_the_calls_after_the_warm_up(monkeypatch):
    """Warm-up calls are run but not timed; the result is the median of the timed calls
    (a fake clock: call k takes k seconds, so the timed ones take 2, 3, 4, 5, 6)."""
    clock, calls = [0.0], []

    def call():
        calls.append(1)
        clock[0] += len(calls)

    monkeypatch.setattr(export.time, "perf_counter", lambda: clock[0])
    assert export.median_seconds(call, repeats=5, warmup=1) == 4.0
    assert len(calls) == 6


@pytest.mark.smoke
def test_tflite_export_metadata_sizes_and_load_errors(tmp_path):
    inputs = keras.Input((None,))
    x = keras.layers.Lambda(lambda t: tf.stack([tf.reduce_mean(t, -1),
                                                tf.reduce_max(t, -1)], -1))(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    out = export.ship_classifier(model, tmp_path / "export", ["no", "yes"], clip_samples=100,
                                 metadata={"task": "toy", "sample_rate": 100}, repeats=3)
    assert export.read_metadata(tmp_path / "export") == {"task": "toy", "sample_rate": 100,
                                                         "labels": ["no", "yes"]}
    tflite = tmp_path / "export" / "model.tflite"
    assert out["tflite"] == str(tflite) and out["tflite_bytes"] == tflite.stat().st_size
    # The SavedModel's size leaves the .tflite beside it out.
    files = [p for p in (tmp_path / "export").rglob("*") if p.is_file() and p != tflite]
    assert out["export_bytes"] == sum(p.stat().st_size for p in files)
    assert out["export_latency_ms_per_clip"] > 0 and out["tflite_latency_ms_per_clip"] > 0
    lite, saved = export.load(tflite), export.load(tmp_path / "export")
    for n in (1, 50, 777):  # any length: the interpreter resizes its input
        wav = np.random.default_rng(n).uniform(-1, 1, size=(2, n)).astype(np.float32)
        a, b = lite.serve(wav), saved.serve(wav)
        np.testing.assert_allclose(a["probabilities"].numpy(), b["probabilities"].numpy(),
                                   atol=1e-6)
        np.testing.assert_array_equal(a["label"].numpy(), b["label"].numpy())
    assert export.export_dir_of(tflite) == tmp_path / "export"
    # Both refuse what is not audio in [-1, 1] rather than answer as if it were.
    for bad, match in [(np.full((1, 9), 1000, np.int16), "divide by 32768"),
                       (np.full((1, 9), 1000.0, np.float32), "divide by 32768"),
                       (np.zeros((1, 0), np.float32), "must not be empty"),
                       (np.full((1, 9), np.nan, np.float32), "must be finite")]:
        with pytest.raises(InputError, match=match):
            lite.serve(bad)
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            saved.serve(bad)  # the graph's own checks (int16 is cast, then its peak fails)
    with pytest.raises(InputError, match="is a toy export, not a digits one"):
        export.load(tmp_path / "export", task="digits")
    with pytest.raises(InputError, match="no SavedModel in"):
        export.load(tmp_path)
    with pytest.raises(InputError, match="TFLite model not found"):
        export.load(tmp_path / "missing.tflite")


def test_int8_tflite_quantises_the_network_and_keeps_each_front_end_float(tmp_path):
    """Two branches, each a float log-spectrogram front end then a convolution, averaged:
    every convolution runs in int8, no front-end op does, and the answers stay close to
    the float model's; a model without a convolution is refused."""
    inputs = keras.Input((None,))
    branches = []
    for frame in (64, 128):
        spec = keras.layers.Lambda(lambda t, n=frame: tf.expand_dims(tf.math.log(
            tf.abs(tf.signal.stft(t, n, n // 2, n)) + 1e-3), -1))(inputs)
        x = keras.layers.Conv2D(4, 3, activation="relu")(spec)
        x = keras.layers.GlobalAveragePooling2D()(x)
        branches.append(keras.layers.Dense(3, activation="softmax")(x))
    model = keras.Model(inputs, keras.layers.Average()(branches))
    rng = np.random.default_rng(0)
    clips = (rng.normal(size=(40, 800)) * rng.uniform(0.01, 0.5, (40, 1))).astype(np.float32)
    out = export.ship_classifier(model, tmp_path / "export", ["a", "b", "c"], clip_samples=800,
                                 metadata={"task": "toy"}, repeats=3, int8_clips=clips)
    path = tmp_path / "export" / export.INT8_FILE
    assert out["int8_tflite"] == str(path) and out["int8_tflite_bytes"] == path.stat().st_size
    assert out["int8_tflite_latency_ms_per_clip"] > 0
    files = [p for p in (tmp_path / "export").rglob("*") if p.suffix != ".tflite" and p.is_file()]
    assert out["export_bytes"] == sum(p.stat().st_size for p in files)
    it = export._interpreter(path)
    ops = it._get_ops_details()
    dtype = lambda t: it._get_tensor_details(t, 0)["dtype"]  # noqa: E731
    convs = [o for o in ops if o["op_name"] == "CONV_2D"]
    assert len(convs) == 2 and all(dtype(o["inputs"][0]) == dtype(o["inputs"][1]) == np.int8
                                   for o in convs)
    ffts = [o for o in ops if o["op_name"] == "RFFT2D"]
    logs = [o for o in ops if o["op_name"] == "LOG"]
    assert len(ffts) == len(logs) == 2  # both front ends, float
    assert not any(dtype(t) == np.int8 for o in ffts + logs for t in [*o["inputs"], *o["outputs"]]
                   if t >= 0)
    lite, flt = export.load(path), export.load(tmp_path / "export" / export.TFLITE_FILE)
    test = (rng.normal(size=(20, 800)) * 0.2).astype(np.float32)
    a = np.concatenate([lite.serve(c[None])["probabilities"].numpy() for c in test])
    b = np.concatenate([flt.serve(c[None])["probabilities"].numpy() for c in test])
    assert 0 < np.abs(a - b).max() < 0.05  # quantised, and close
    dense = keras.Sequential([keras.Input((None,)), keras.layers.Lambda(
        lambda t: tf.reduce_mean(t, -1, keepdims=True)), keras.layers.Dense(2, "softmax")])
    export.ship_classifier(dense, tmp_path / "dense", ["a", "b"], clip_samples=10,
                           metadata={}, repeats=1)
    with pytest.raises(ValueError, match="no CONV_2D or DEPTHWISE_CONV_2D op"):
        export.write_tflite_int8(tmp_path / "dense", clips)


def test_plots_write_pngs(tmp_path):
    hist = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]}
    for p in (plots.training_curves(hist, tmp_path / "curves.png"),
              plots.waveform_and_features(np.sin(np.arange(800) / 5), 8000,
                                          np.random.rand(10, 13), tmp_path / "wave.png"),
              plots.spectrograms([("a", np.random.rand(10, 65))], 8000, 64,
                                 tmp_path / "spec.png")):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- data


def test_find_dataset_search_order(tmp_path, monkeypatch):
    for root in ("flag", "env", "keras/datasets"):
        (tmp_path / root / "ds" / "marker").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TFDL_DATA_DIR", str(tmp_path / "env"))
    assert data.find_dataset("ds", tmp_path / "flag", marker="marker") == tmp_path / "flag" / "ds"
    assert data.find_dataset("ds", None, marker="marker") == tmp_path / "env" / "ds"
    monkeypatch.setenv("TFDL_DATA_DIR", str(tmp_path / "nowhere"))
    assert data.find_dataset("ds", None, marker="marker") == tmp_path / "keras/datasets" / "ds"


def test_find_dataset_refuses_download_under_tests(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TFDL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TFDL_NO_DOWNLOAD", "1")
    with pytest.raises(InputError, match="ds dataset not found"):
        data.find_dataset("ds", None, marker="m", origin="https://example.invalid/ds.zip")
    with pytest.raises(InputError, match="does not exist"):
        data.find_dataset("ds", tmp_path / "missing", marker="m")
    (tmp_path / "other").mkdir()
    with pytest.raises(InputError, match="no ds dataset"):
        data.find_dataset("ds", tmp_path / "other", marker="m")


def test_cli_run_exit_status(monkeypatch, capsys):
    from tfdl import cli
    from tfdl.errors import InputError

    monkeypatch.setattr("sys.argv", ["app"])

    def returns_a_result(argv):
        return [("a.wav", "3", 0.9)]

    def bad_input(argv):
        raise InputError("--epochs must be positive. Received: --epochs=0")

    with pytest.raises(SystemExit) as e:
        cli.run(returns_a_result)
    assert e.value.code in (0, None)
    assert "a.wav" not in capsys.readouterr().err  # A result is not echoed by absl.
    with pytest.raises(SystemExit) as e:
        cli.run(bad_input)
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --epochs must be positive. Received: --epochs=0"


def test_steps_per_execution_never_exceeds_an_epoch():
    assert train.steps_per_execution(2) == 2 and train.steps_per_execution(71) == 16
    assert train.steps_per_execution(0) == 1
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        assert train.steps_per_execution(71) == 1
