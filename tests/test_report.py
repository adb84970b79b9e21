"""report.html of every app: a tiny run through the app's own command line (`tfdl.cli.run`, in
this process) writes a page that parses, embeds every figure and sound it promises as data:
URIs that decode, names no external URL and rebuilds identically (`python -m tfdl.report`);
`--report=false` writes none. (The digits and vision apps' pages are checked on their smoke
runs, in tests/test_digits_app.py and tests/test_vision_apps.py.)"""

import json

import numpy as np

from conftest import sine, write_wav
from pages import check_page, run_cli
from test_keywords_data import make_corpus
from test_tuning import make_fsdd


def test_an_old_run_without_run_json_gets_a_page(tiny_fsdd, tmp_path):
    """A LOSO run: one collapsed section per fold; rebuilt without run.json, the task comes
    from config.json's fields and the command is unknown."""
    from tfdl import report

    wd = tmp_path / "loso"
    run_cli("digits", "--model=mfcc", "--config.split=loso", "--config.epochs=1",
            "--config.steps_per_epoch=1", "--config.batch_size=8", f"--data_dir={tiny_fsdd}",
            f"--workdir={wd}")
    folds = ["fold_amy", "fold_ben"]
    check_page(wd, ["confusion_matrix.png"] + [f"{f}/training_curves.png" for f in folds],
               details=2)
    (wd / "run.json").unlink()
    report.write(wd)
    html = (wd / "report.html").read_text()
    assert "The command is unknown" in html and "Spoken digits: mfcc, loso split" in html
    assert report.infer_task(wd / "fold_amy") == "digits"


def test_keywords_pages_of_a_run_and_of_a_stream(tmp_path):
    root = make_corpus(tmp_path / "kw")
    wd = tmp_path / "run"
    run_cli("keywords", "--model=cnn", "--config.sample_rate=8000",
            "--config.clip_duration_ms=500", "--config.validation_percentage=25",
            "--config.testing_percentage=25", "--config.unknown_percentage=50",
            "--config.silence_percentage=50", "--config.epochs=1", "--config.batch_size=4",
            "--config.wanted_words=a,b", "--config.held_out_noise=hum.wav",
            f"--data_dir={root}", f"--workdir={wd}")
    index = json.loads((wd / "misclassified.json").read_text())
    check_page(wd, ["training_curves.png", "confusion_matrix.png", "augmented_example.png"],
               [c["wav"] for c in index["saved"]])
    long = np.zeros(4 * 8000, np.float32)
    long[8000:12000] = sine(300, 0.5, 8000)
    write_wav(tmp_path / "long.wav", long, 8000)
    run_cli("keywords", "stream", str(tmp_path / "long.wav"), "--threshold=0.01",
            f"--workdir={wd}")
    stream = wd / "stream" / "long"
    check_page(stream, ["timeline.png"], ["recording.wav"])
    found = json.loads((stream / "metrics.json").read_text())["detections"]
    assert f"<td>keywords detected</td><td class=\"num\">{len(found)}</td>" in (
        stream / "report.html").read_text()


def test_denoise_page_plays_noisy_denoised_and_clean(mini_denoise, tmp_path):
    wd = tmp_path / "denoise"
    run_cli("denoise", "--model=fc_crm", f"--data_dir={mini_denoise}", f"--workdir={wd}",
            "--test=test_01_x.wav", "--config.export=false", "--config.max_seconds=3.0",
            "--config.epochs=1", "--config.steps_per_epoch=2", "--config.units=32",
            "--config.hidden_layers=2", "--config.context=1", "--config.chunk_frames=8",
            "--config.batch_size=4")
    check_page(wd, ["training_curves.png", "spectrograms_validation.png",
                    "spectrograms_test_01_x.png"],
               ["validation_noisy.wav", "validation_denoised.wav", "validation_clean.wav",
                "test_01_x_noisy.wav", "test_01_x_denoised.wav"])


def test_phonemes_page_has_a_section_per_member(mini6, tmp_path):
    wd = tmp_path / "phonemes"
    run_cli("phonemes", "--config=ensemble", "--config.members=logistic,mlp",
            "--config.context=2", "--config.stride=2", "--config.epochs=1",
            "--config.frames_per_epoch=1024", "--config.batch_size=256",
            "--config.test_utterances=2", "--config.val_utterances=1", f"--data_dir={mini6}",
            f"--workdir={wd}")
    check_page(wd, ["confusion_matrix.png", "phone_sequence.png",
                    "members/logistic/training_curves.png", "members/mlp/training_curves.png"],
               details=2)


def test_report_false_writes_no_page(mini_vision, tmp_path):
    wd = tmp_path / "bp"
    run_cli("backprop", "--report=false", "--config.train_size=100", "--config.test_size=50",
            "--config.epochs=1", "--config.batch_size=50", f"--data_dir={mini_vision}",
            f"--workdir={wd}")
    assert (wd / "metrics.json").is_file()
    assert not (wd / "report.html").exists() and not (wd / "run.json").exists()


def test_tuning_page_sorts_the_trials_and_shows_the_best(tmp_path):
    data = make_fsdd(tmp_path / "data")
    wd = tmp_path / "search"
    run_cli("tuning.search", "--config.app=digits", "--config.max_trials=2",
            "--config.epochs=1", "--config.final_epochs=1", "--config.batch_size=8",
            "--config.max_params=20000", f"--data_dir={data}", f"--workdir={wd}")
    page = check_page(wd, ["params_vs_metric.png", "best/training_curves.png",
                           "best/confusion_matrix.png"], details=2)
    results = json.loads((wd / "results.json").read_text())
    html = (wd / "report.html").read_text()
    scores = sorted((r["metric"] for r in results["trials"] if r["metric"] is not None),
                    reverse=True)
    rows = [html.index(f"Trial {r['trial']}:") for r in sorted(
        results["trials"], key=lambda r: -(r["metric"] or -1))]
    assert rows == sorted(rows) and len(scores) == 2  # trial sections, best first
    assert "Best config" in html and page.images
