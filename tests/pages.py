"""What the report tests read in a page (`check_page`) and how they run an app
(`run_cli`): shared by tests/test_report.py and the app tests whose runs also
check their page."""

import base64
import io
import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import pytest
from absl import flags

from conftest import load_app

EXTERNAL = ("http:", "https:", "//", "ftp:", "file:")


class Page(HTMLParser):
    """What a report page holds: its images, sounds, links, collapsed sections, errors."""

    def __init__(self, html):
        super().__init__()
        self.images, self.sounds, self.urls, self.missing = {}, {}, [], []
        self.details = self.scripts_with_src = 0
        self._audio = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "poster") and v]
        if tag == "img":
            self.images[a["data-file"]] = a["src"]
        elif tag == "audio":
            self._audio = a["data-file"]
        elif tag == "source" and self._audio:
            self.sounds[self._audio] = a["src"]
        elif tag == "details":
            self.details += 1
        elif tag in ("script", "link") and ("src" in a or "href" in a):
            self.scripts_with_src += 1
        if "missing" in (a.get("class") or "").split():
            self.missing.append(a)

    def handle_endtag(self, tag):
        if tag == "audio":
            self._audio = None


def _decoded(uri, mime):
    head, data = uri.split(",", 1)
    assert head == f"data:{mime};base64", head[:40]
    return base64.b64decode(data)


def check_page(workdir, figures=(), sounds=(), details=0):
    """The page in `workdir`: parsed; each promised figure and sound embedded and decodable;
    no external reference, no missing file; the same page when rebuilt. Returns it."""
    import matplotlib.pyplot as plt
    import soundfile as sf

    from tfdl import report

    html = (Path(workdir) / "report.html").read_text()
    page = Page(html)
    assert set(figures) <= set(page.images), sorted(set(figures) - set(page.images))
    assert set(sounds) <= set(page.sounds), sorted(set(sounds) - set(page.sounds))
    for name, uri in page.images.items():
        assert plt.imread(io.BytesIO(_decoded(uri, "image/png")), format="png").size, name
    for name, uri in page.sounds.items():
        wave, rate = sf.read(io.BytesIO(_decoded(uri, "audio/flac")))
        assert len(wave) > 0 and rate > 0, name
    assert not [u for u in page.urls if not u.startswith("data:") and not u.startswith("#")]
    assert not [u for u in page.urls if u.lower().startswith(EXTERNAL)]
    assert page.scripts_with_src == 0 and "@import" not in html and "url(" not in html
    assert page.missing == [] and page.details >= details
    assert json.loads((Path(workdir) / "run.json").read_text())["command"].startswith(
        "python -m ")
    assert report.render(workdir) == html  # the same page, rebuilt from the folder
    return page


def run_cli(name, *args):
    """`python -m apps.NAME ARGS` (or `tuning.search`) through `tfdl.cli.run`, in this process."""
    from tfdl import cli

    module = load_app(name)
    if name == "tuning.search":
        module.define_flags()
    try:
        with mock.patch.object(sys, "argv", [name, *args]), pytest.raises(SystemExit) as e:
            cli.run(module.main)
    finally:
        flags.FLAGS.unparse_flags()
    assert e.value.code in (0, None)
