"""`tfdl.speed`: CPU settings chosen by timing them, cached per machine, forced by the user."""

import json

import pytest

from tfdl import speed

ARGS = ("tfdl.digits.model:MODELS", "batchnorm", (8000,), 10, 32)
GRID = [(False, 1), (False, 2), (True, 1), (True, 2)]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A fresh cache file, no choices remembered from other tests, two cores, oneDNN
    neither set by the user nor on in TensorFlow by default."""
    monkeypatch.setenv("TFDL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(speed.ONEDNN, raising=False)
    monkeypatch.delenv(speed._FROM_CACHE, raising=False)
    monkeypatch.setattr(speed, "_CHOSEN", {})
    monkeypatch.setattr(speed.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(speed, "onednn_enabled", lambda: False)
    return tmp_path / "speed.json"


def _choose(rates, steps=10_000, log=None, batch_size=32):
    timed = []

    def time_fn(onednn, k):
        timed.append((onednn, k))
        return rates[(onednn, k)]

    got = speed.choose_microbatches(*ARGS[:4], batch_size, steps=steps, time_fn=time_fn,
                                    log=(log if log is not None else lambda line: None))
    return got, timed


def _rates(*values):
    return dict(zip(GRID, map(float, values)))


def test_the_fastest_setting_wins_and_is_cached_for_the_net_and_the_machine(cache):
    lines = []
    assert _choose(_rates(100, 110, 200, 190), log=lines.append) == (1, GRID)
    entries = json.loads(cache.read_text())
    net = entries[speed.machine_key("batchnorm", 32)]
    assert (net["onednn"], net["microbatches"]) == (True, 1)
    assert net["rates"]["oneDNN on, micro-batches 1"] == 200.0
    assert entries[speed.machine_key()]["onednn"] is True
    assert "oneDNN on, whole batches" in lines[-2] and str(cache) in lines[-2]
    assert "takes effect from the next run" in lines[-1]


def test_micro_batches_win_when_faster():
    assert _choose(_rates(100, 130, 90, 95))[0] == 2


def test_the_default_stays_when_nothing_gains_enough(cache):
    assert _choose(_rates(100, 104, 103, 102))[0] == 1
    net = json.loads(cache.read_text())[speed.machine_key("batchnorm", 32)]
    assert (net["onednn"], net["microbatches"]) == (False, 1)


def test_a_cached_choice_is_used_without_timing():
    _choose(_rates(100, 130, 90, 95))
    speed._CHOSEN.clear()  # a new process
    lines = []
    assert _choose(_rates(999, 1, 1, 1), log=lines.append) == (2, [])
    assert "cached" in lines[-1]


def test_the_cache_key_names_the_network_and_batch_size(cache):
    _choose(_rates(100, 130, 90, 95))
    speed._CHOSEN.clear()
    assert _choose(_rates(100, 90, 95, 80), batch_size=64)[0] == 1
    assert len(json.loads(cache.read_text())) == 3  # two nets and the machine


def test_import_applies_the_cached_onednn_choice_unless_the_user_set_it(monkeypatch):
    assert speed.apply_cached_onednn() is None  # nothing measured yet
    _choose(_rates(100, 110, 200, 190))
    assert speed.apply_cached_onednn() == "1"
    monkeypatch.setenv(speed.ONEDNN, "0")
    assert speed.apply_cached_onednn() is None
    assert speed.os.environ[speed.ONEDNN] == "0"


def test_a_cached_onednn_setting_is_measured_again_for_a_new_network():
    _choose(_rates(100, 110, 200, 190))
    speed._CHOSEN.clear()
    speed.apply_cached_onednn()  # as `import tfdl` in the next run
    assert _choose(_rates(100, 110, 200, 190), batch_size=64)[1] == GRID


def test_a_user_setting_of_onednn_is_the_only_candidate(monkeypatch):
    monkeypatch.setenv(speed.ONEDNN, "0")
    got, timed = _choose(_rates(100, 130, 500, 500))
    assert (got, timed) == (2, [(False, 1), (False, 2)])


def test_short_runs_and_one_core_skip_the_probe(cache, monkeypatch):
    lines = []
    assert _choose(_rates(1, 100, 1, 1), steps=speed.MIN_STEPS - 1, log=lines.append) == (1, [])
    assert "does not repay" in lines[-1] and not cache.exists()
    speed._CHOSEN.clear()
    monkeypatch.setattr(speed.os, "cpu_count", lambda: 1)
    monkeypatch.setenv(speed.ONEDNN, "1")
    assert _choose(_rates(1, 100, 1, 1)) == (1, [])


def test_an_unreadable_cache_is_measured_again(cache):
    cache.write_text("{not json")
    assert _choose(_rates(100, 130, 90, 95))[0] == 2
    assert json.loads(cache.read_text())  # rewritten whole


@pytest.mark.parametrize("onednn", [False, True])
def test_probe_times_a_real_network_in_a_fresh_process(onednn):
    rate = speed._probe_subprocess("tfdl.vision.model:MODELS", "mlp", (28, 28), 10, 32,
                                   onednn, 2)
    assert rate > 0
