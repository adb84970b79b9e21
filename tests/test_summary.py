"""The README's results block is exactly what the committed benchmark JSON gives."""

import json

from benchmarks import summary


def test_readme_results_block_is_made_from_the_committed_json():
    text = summary.README.read_text()
    assert summary.BEGIN in text and summary.END in text
    assert summary.render(text) == text, "run python -m benchmarks.summary"


def test_rows_come_from_the_json_and_a_missing_config_says_so(tmp_path):
    env = {"cpu": "Some CPU", "cpus": 4, "tensorflow": "2.99.0", "loadavg": [0.25, 0, 0],
           "time": "2030-01-02 03:04:05 UTC"}
    (tmp_path / "keywords.json").write_text(json.dumps({"configs": {"cnn_robust": {
        "test_accuracy": 0.9123, "noisy_test_accuracy": {"0": 0.5, "10.0": 0.75},
        "train_seconds": 90.0, "export_bytes": 2.5e6, "export_latency_ms_per_clip": 1.25,
        "tflite_bytes": 1.2e6, "tflite_latency_ms_per_clip": 0.75, "env_start": env}}}))
    rows = summary.rows(tmp_path)
    keywords = [r for r in rows if r.startswith("| keywords |")]
    assert keywords == [
        "| keywords | `default` = best (`cnn_robust`) | 91.2 % corpus test; held-out noise: 50.0 % at "
        "0 dB, 75.0 % at 10 dB | 1.5 min | SavedModel 2.5 MB, 1.2 ms/clip; TFLite 1.2 MB, "
        "0.8 ms/clip | Some CPU x4, TF 2.99.0, load 0.2, 2030-01-02 |"]
    digits = [r for r in rows if r.startswith("| digits |")]
    assert digits and all("not measured: `python -m benchmarks.digits --configs=" in r
                          for r in digits)


def test_a_distilled_row_counts_its_teachers_training_time():
    teacher = {"train_seconds": 240.0}
    student = {"train_seconds": 60.0, "config": {"teacher": "compact_pair"}}
    assert summary._training(student, {"compact_pair": teacher}) == (
        "1.0 min + 4.0 min for the teacher `compact_pair`")
    assert summary._training(student, {}) == "1.0 min"  # the teacher not measured
    assert summary._training(teacher, {"compact_pair": teacher}) == "4.0 min"


def test_speed_rows_name_the_machine_and_come_from_the_throughput_part(tmp_path):
    assert "not measured" in summary.speed_rows(tmp_path)[0]
    env = {"cpu": "Some CPU", "cpus": 4, "tensorflow": "2.99.0", "loadavg": [1.25, 0, 0],
           "time": "2030-01-02 03:04:05 UTC"}
    (tmp_path / "digits.json").write_text(json.dumps({"throughput": {"env_start": env,
        "batchnorm": {"keras_examples_per_sec": 300.4, "keras_threads": 2,
                      "keras_microbatches": 2, "onednn": True, "torch_examples_per_sec": 200.0,
                      "torch_threads": 1, "torch_version": "9.9", "speedup": 1.502}}}))
    rows = summary.speed_rows(tmp_path)
    assert "Some CPU x4, TF 2.99.0, load 1.2 at the start, 2030-01-02" in rows[0]
    assert rows[-1] == ("| `batchnorm` | 300 (oneDNN on, 2 micro-batches, 2 threads) | 200 (1 thread, "
                        "torch 9.9) | 1.50x |")
