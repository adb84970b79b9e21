"""The distillation benchmark's row configs and table (its runs are the apps' own, tested
with the apps)."""

import pytest
from absl import flags

from benchmarks import distill
from tfdl.digits.configs import CONFIGS


@pytest.fixture
def parsed():
    """The benchmark's flags parsed with one `--override`, reset afterwards."""
    flags.FLAGS(["distill", "--override=epochs=2"])
    yield
    flags.FLAGS.unparse_flags()


def test_row_config_sets_the_row_and_override_values_and_names_them(parsed):
    cfg, command = distill.row_config("digits", "mfcc", {"int8": True})
    assert cfg.int8 is True and cfg.epochs == 2 and cfg.model == "mfcc"
    assert command == "python -m apps.digits --config=mfcc --config.int8=true --config.epochs=2"
    cfg, _ = distill.row_config("keywords", "cnn", {"int8": True})
    assert cfg.int8 is True and cfg.epochs == 2


def test_table_has_a_line_per_row_and_a_dash_where_a_row_has_no_value():
    env = {"loadavg": [0.5, 0.4, 0.3]}
    rows = {"digits/mfcc": {"task": "digits", "role": "plain", "config": "mfcc",
                            "official_accuracy": 0.988, "params": 80546,
                            "export_bytes": 1.09e6, "tflite_bytes": 0.5e6,
                            "int8_tflite_bytes": 0.2e6, "export_latency_ms_per_clip": 3.8,
                            "tflite_latency_ms_per_clip": 1.25,
                            "int8_tflite_latency_ms_per_clip": 0.5, "int8_accuracy": 0.984,
                            "env_start": env},
            "keywords/cnn": {"task": "keywords", "role": "plain", "config": "cnn",
                             "test_accuracy": 0.97, "noisy_test_accuracy": {"0": 0.45,
                                                                            "10": 0.79},
                             "params": 347532, "export_bytes": 3e6, "tflite_bytes": 1.45e6,
                             "export_latency_ms_per_clip": 1.7,
                             "tflite_latency_ms_per_clip": 1.07, "env_start": env}}
    lines = distill.table(rows).splitlines()
    assert lines[2] == ("| digits | `mfcc` (plain) | 98.8 % | - | - | 80,546 | 1.09 / 0.50 / 0.20 "
                        "| 3.80 / 1.25 / 0.50 | 98.4 % |")
    assert lines[3] == ("| keywords | `cnn` (plain) | - | - | 97.0 % (45.0 % / 79.0 %) | 347,532 | "
                        "3.00 / 1.45 / - | 1.70 / 1.07 / - | - |")
    assert lines[-1] == "Load average (1 min) at each row's start: mfcc 0.5; cnn 0.5."


def test_the_students_teacher_is_the_teacher_rows_run_and_per_fold_its_loso_run(tmp_path,
                                                                              monkeypatch):
    flags.FLAGS(["distill", "--loso", f"--runs_dir={tmp_path}"])
    try:
        seen = []

        def run(cfg, workdir, data_dir, verbose):  # records each run instead of training
            seen.append((workdir, cfg.split, cfg.teacher))
            return {"accuracy": 1.0, "mean_accuracy": 0.9, "train_seconds": 1.0,
                    "trainable_params": 1}

        monkeypatch.setattr(distill, "_task", lambda task: (CONFIGS, run))
        teacher_dir = tmp_path / "digits" / "compact_pair"
        for folder in (teacher_dir, tmp_path / "digits" / "compact_pair_loso"):
            folder.mkdir(parents=True)  # (a folder teacher must exist to validate)
        teacher = distill.bench_row("digits", "teacher", "compact_pair", {}, "")
        assert teacher["workdir"] == str(teacher_dir)
        student = distill.bench_row("digits", "student", "compact_student",
                                    {"teacher": "{teacher}"}, teacher["workdir"])
        assert seen[2:] == [(str(tmp_path / "digits" / "compact_student"), "official",
                             str(teacher_dir)),
                            (str(tmp_path / "digits" / "compact_student") + "_loso", "loso",
                             str(teacher_dir) + "_loso")]
        assert student["loso_mean_accuracy"] == 0.9
        assert "--config.teacher=" + str(teacher_dir) + "_loso" in student["loso_command"]
    finally:
        flags.FLAGS.unparse_flags()
