"""tuning.search: budgeted random search over the digits registry on tiny synthetic FSDD data."""

import csv
import json
import random

import keras_tuner
import numpy as np
import pytest
from conftest import write_wav

from tfdl.errors import InputError
from tuning import search
from tuning.config import Config
from tuning.configs import CONFIGS
from tuning.hypermodels import APPS, AppHyperModel


def make_fsdd(root, takes=(0, 5, 10, 11), seconds=0.25, sample_rate=8000):
    """A tiny FSDD-layout folder: one tone per digit, one speaker, the given takes.

    Takes 0-4 are the official test split, 5-9 the search validation split and
    10+ the search training split.
    """
    rec = root / "fsdd" / "recordings"
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for d in range(10):
        for take in takes:
            x = 0.5 * np.sin(2 * np.pi * (200 + 150 * d) * t) + 0.05 * rng.normal(size=t.size)
            write_wav(rec / f"{d}_synth_{take}.wav", x, sample_rate)
    return root / "fsdd"


@pytest.fixture(scope="module")
def fsdd_dir(tmp_path_factory):
    return make_fsdd(tmp_path_factory.mktemp("data"))


def tiny(**kw):
    return Config(**{**dict(app="digits", epochs=1, final_epochs=0, batch_size=8,
                            max_params=20000), **kw})


def run(tmp_path, data_dir, cfg, **kw):
    """`tuning.search.run` of `cfg` into `tmp_path/runs/<app>`."""
    return search.run(cfg, str(tmp_path / "runs" / cfg.app), str(data_dir), verbose=0, **kw)


def test_app_choices_come_from_the_registry_and_unknown_app_is_clear():
    assert "digits" in APPS.names()
    with pytest.raises(InputError, match=r"--config.app must be one of .*digits.*Received: "
                                         r"--config.app='nope'"):
        Config(app="nope").validate()
    with pytest.raises(InputError, match="--config.max_trials"):
        Config(max_trials=0).validate()
    for name in CONFIGS.names():  # every named search is valid and names a searchable task
        assert CONFIGS.get(name).validate().app in APPS.names()


def test_budget_below_smallest_model_fails_before_any_training(tmp_path, fsdd_dir):
    cfg = tiny(max_params=100)
    with pytest.raises(InputError, match=r"--config.max_params=100 is smaller than the smallest "
                                         r"digits model in the search space \(\d+ parameters"):
        run(tmp_path, fsdd_dir, cfg)
    assert not (tmp_path / "runs").exists()  # Nothing was trained or even set up.


class DenseHyperModel(AppHyperModel):
    """A stand-in app whose architectures build in milliseconds (oracle logic only)."""

    app = "dense"
    size_hps = ("width", "layers")

    def build_model(self, hp):
        import keras

        width, layers = hp.Int("width", 4, 64, step=4), hp.Choice("layers", [1, 2, 3])
        hp.Choice("activation", ["relu", "gelu"])
        x = inputs = keras.Input((16,))
        for _ in range(layers):
            x = keras.layers.Dense(width)(x)
        return keras.Model(inputs, keras.layers.Dense(3)(x))


def test_budget_oracle_only_proposes_models_within_budget():
    hm = DenseHyperModel()
    n_min, values = hm.smallest()
    assert (n_min, values["width"], values["layers"]) == (16 * 4 + 4 + 4 * 3 + 3, 4, 1)
    budget = 600  # Most of the space is bigger: 64 wide x 3 layers is 9,667 parameters.
    oracle = search.BudgetRandomSearchOracle(hm, max_params=budget, objective="val_accuracy",
                                             max_trials=20, seed=3)
    hp = keras_tuner.HyperParameters()
    hm.build(hp)
    oracle.update_space(hp)
    sizes = []
    for i in range(12):
        out = oracle.populate_space(str(i))
        assert out["status"] == "RUNNING"
        sizes.append(hm.count(out["values"]))
        oracle._tried_so_far.add(oracle._compute_values_hash(out["values"]))
    assert max(sizes) <= budget
    assert oracle.redrawn > 0  # The budget did reject draws, and the search went on.
    # Shrinking moves a too-big model under the budget, one notch at a time.
    small, n = hm.shrink({"width": 64, "layers": 3}, budget, random.Random(0))
    assert n <= budget and n == hm.count(small)
    assert hm.shrink({"width": 64, "layers": 3}, n_min - 1, random.Random(0))[0] is None


def test_search_writes_results_resumes_and_exports_best(tmp_path, fsdd_dir):
    first = run(tmp_path, fsdd_dir, tiny(max_trials=1))
    assert [r["trial"] for r in first["rows"]] == ["0"]
    # Run again with a larger budget of trials: the finished trial is kept, one more runs.
    out = run(tmp_path, fsdd_dir, tiny(max_trials=2, final_epochs=1))
    project = tmp_path / "runs" / "digits"
    rows = out["rows"]
    assert [r["trial"] for r in rows] == ["0", "1"]
    assert all(r["runs"] == 1 and r["status"] == "COMPLETED" for r in rows)
    assert rows[0]["hp"] == first["rows"][0]["hp"]
    assert all(0 < r["params"] <= 20000 and r["seconds"] > 0 for r in rows)

    with open(project / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 and {"trial", "family", "learning_rate", "params", "val_accuracy",
                                "seconds"} <= set(table[0])
    assert "(best)" in (project / "results.md").read_text()
    assert (project / "params_vs_metric.png").stat().st_size > 1000
    assert list((project / "tensorboard").glob("events.out.tfevents.*"))  # HParams config
    assert list((project / "tensorboard" / "trial_1").glob("events.out.tfevents.*"))

    best = project / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["hyperparameters"] == out["best"]["hp"]
    # The SavedModel takes raw waveforms of any length and reproduces the test accuracy.
    from tfdl.audio import read_audio
    from tfdl.export import load

    loaded = load(best / "export")
    files = sorted((fsdd_dir / "recordings").glob("*_0.wav"))
    waves = np.stack([read_audio(p)[0] for p in files]).astype("float32")
    got = loaded.serve(waves)
    assert got["probabilities"].shape == (10, 10)
    acc = np.mean(got["class_id"].numpy() == np.array([int(p.name[0]) for p in files]))
    assert acc == pytest.approx(metrics["test_accuracy"])


def test_existing_search_is_not_touched_without_resume(tmp_path):
    project = search.Project(tmp_path / "digits")
    project.dir.mkdir(parents=True)
    with pytest.raises(InputError, match="drop --noresume .* --restart"):
        search._check_project(Config(), project, "single", resume=False)
    (project.dir / "search_config.json").write_text(json.dumps({"app": "keywords"}))
    with pytest.raises(InputError, match="holds a --config.app=keywords search"):
        search._check_project(Config(), project, "single")
    search._check_project(Config(), project, "single", restart=True)
    assert not project.dir.exists()


def test_every_searchable_task_has_a_hypermodel():
    import importlib.util

    for app in ("digits", "keywords", "phonemes"):
        assert importlib.util.find_spec(f"tfdl.{app}.model") is not None
        assert app in APPS.names()


@pytest.mark.slow
@pytest.mark.parametrize("app", [pytest.param(a, marks=pytest.mark.dataset(a))
                                 for a in ("keywords", "phonemes")])
def test_real_data_search_smoke(tmp_path, data_root, app):
    """One short trial on the real data, the best model retrained 1 epoch and exported."""
    sub = {"keywords": "keywords", "phonemes": "phonemes"}[app]
    out = search.run(Config(app=app, max_trials=1, epochs=1, final_epochs=1, max_params=50000),
                     str(tmp_path / app), str(data_root / sub), verbose=0)
    assert out["rows"][0]["status"] == "COMPLETED" and out["rows"][0]["params"] <= 50000
    best = tmp_path / app / "best"
    assert (best / "export" / "saved_model.pb").exists()
    assert 0 <= json.loads((best / "metrics.json").read_text())["test_accuracy"] <= 1


def test_cli_help_lists_the_named_searches_and_bad_flags_are_one_line(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tuning.search", *args], cwd=root,
                              env={**os.environ, "TFDL_NO_DOWNLOAD": "1"}, capture_output=True,
                              text=True, timeout=120)

    r = cli("--help")
    assert r.returncode == 0
    for name in CONFIGS.names():
        assert len([ln for ln in r.stdout.splitlines() if ln.split()[:1] == [name]]) == 1, name
    r = cli("--config.max_trials=0", f"--workdir={tmp_path / 'w'}")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --config.max_trials must be a positive integer. Received: "
        "--config.max_trials=0"]
    assert not (tmp_path / "w").exists()
