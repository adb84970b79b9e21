"""The distillation benchmark's row configs and table (its runs are the apps' own, tested
with the apps)."""

import pytest
from absl import flags

from benchmarks import distill


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
