"""report.html in a real browser: headless Chromium renders a digits page (real FSDD
recordings as its misclassified clips), its screenshot is not blank, every <img> decoded and
every <audio> reports a duration.

Chromium is Debian's `chromium` (`apt-get install -y chromium`; `$TFDL_CHROMIUM` names
another binary). Without it the test is skipped with that line, unless
`TFDL_REQUIRE_BROWSER=1` (CI: `.ci/run` installs it and sets the variable), where it fails.
"""

import html
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import ASSETS

CHROMIUM = os.environ.get("TFDL_CHROMIUM", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars")
# Appended to a copy of the page: once every sound has its metadata (or failed), the images'
# and sounds' state goes into the DOM, which --dump-dom prints.
PROBE = """<script>
window.addEventListener("load", function () {
  var sounds = Array.from(document.querySelectorAll("audio")), left = sounds.length;
  function finish() {
    var out = {images: Array.from(document.images).map(function (i) {
                 return {file: i.dataset.file, width: i.complete ? i.naturalWidth : 0}; }),
               sounds: sounds.map(function (a) {
                 return {file: a.dataset.file, duration: a.duration}; })};
    var pre = document.createElement("pre");
    pre.id = "tfdl-probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  function one() { if (--left === 0) finish(); }
  if (!left) return finish();
  sounds.forEach(function (a) {
    if (a.readyState >= 1 || a.error || a.networkState === 3) return one();  // 3: no source
    var done = false, once = function () { if (!done) { done = true; one(); } };
    a.addEventListener("loadedmetadata", once);
    a.addEventListener("error", once, true);
  });
});
</script>"""


def chromium():
    """The Chromium binary, or the test's one-line skip (a failure under TFDL_REQUIRE_BROWSER)."""
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = f"chromium not found at {CHROMIUM}: apt-get install -y chromium"
    if os.environ.get("TFDL_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def browse(binary, tmp_path, *args):
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def digits_page(tmp_path_factory):
    """A finished digits run's folder, made without training: its figures drawn from made-up
    numbers, its misclassified clips real FSDD recordings; then its page."""
    from tfdl import plots, report
    from tfdl.digits.configs import CONFIGS
    from tfdl.report.clips import save_misclassified
    from tfdl.workdir import Workdir

    wd = Workdir(tmp_path_factory.mktemp("browser") / "digits")
    wd.write_config(CONFIGS.get("default"))
    history = {"loss": [2.0, 1.1, 0.6], "val_loss": [2.1, 1.3, 0.8],
               "accuracy": [0.3, 0.7, 0.9], "val_accuracy": [0.25, 0.6, 0.85]}
    plots.training_curves(history, wd.path("training_curves.png"))
    cm = np.diag([25] * 10) + np.eye(10, k=1, dtype=int)
    plots.confusion_matrix(cm, [str(d) for d in range(10)], wd.path("confusion_matrix.png"))
    rng = np.random.default_rng(0)
    plots.waveform_and_features(rng.normal(0, 0.1, 4000), 8000, rng.normal(size=(40, 13)),
                                wd.path("waveform_mfcc.png"))
    recordings = ASSETS / "fsdd" / "recordings"
    wrong = [{"file": f"{d}_george_0.wav", "true": d, "predicted": (d + 1) % 10,
              "probability": 0.5 + d / 40, "path": recordings / f"{d}_george_0.wav"}
             for d in range(4)]
    save_misclassified(wd, wrong)
    wd.write_json("metrics.json", {"model": "compact_robust", "split": "official",
                                   "accuracy": 0.96, "num_examples": 250,
                                   "confusion_matrix": cm.tolist(),
                                   "per_class_accuracy": {str(d): 0.96 for d in range(10)}})
    return report.finish_run(wd.root, "digits", "python -m apps.digits")


def test_a_report_renders_in_chromium(digits_page, tmp_path):
    import matplotlib.pyplot as plt

    binary = chromium()
    shot = tmp_path / "page.png"
    r = browse(binary, tmp_path, f"--screenshot={shot}", "--window-size=1000,1600",
               digits_page.as_uri())
    assert shot.is_file(), r.stderr[-2000:]
    pixels = plt.imread(shot)[..., :3]
    assert pixels.std() > 0.05 and (pixels.mean(axis=-1) < 0.9).mean() > 0.02  # not blank
    probe = tmp_path / "probe.html"
    probe.write_text(digits_page.read_text().replace("</body>", PROBE + "</body>"))
    r = browse(binary, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="tfdl-probe">(.*?)</pre>', r.stdout, re.S)
    assert found, (r.stdout[-500:], r.stderr[-2000:])
    state = json.loads(html.unescape(found.group(1)))
    assert {i["file"] for i in state["images"]} >= {
        "training_curves.png", "confusion_matrix.png", "waveform_mfcc.png"}
    assert all(i["width"] > 0 for i in state["images"]), state["images"]
    assert len(state["sounds"]) == 4
    for s in state["sounds"]:  # the FSDD takes last 0.3-0.6 s
        assert s["duration"] and 0.1 < s["duration"] < 2, s
