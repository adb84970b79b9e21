"""The installed package: its metadata, and every module and app importing."""

import importlib
import importlib.metadata
import pkgutil
import sys

import pytest

import tfdl
from conftest import load_app

pytestmark = pytest.mark.smoke

APPS = ("digits", "keywords", "denoise", "phonemes", "mnist", "notmnist", "optimization",
        "backprop")


def test_installed_version_is_the_package_version():
    assert importlib.metadata.version("tfdl") == tfdl.__version__
    requires = importlib.metadata.requires("tfdl")
    assert not [r for r in requires if r.startswith("tensorflow-io") and "extra" not in r]
    assert any(r.startswith("tensorboard") for r in requires)


def test_every_library_module_imports():
    names = [m.name for m in pkgutil.walk_packages(tfdl.__path__, "tfdl.")]
    assert len(names) > 20
    for name in names:
        importlib.import_module(name)
    assert "tensorflow_io" not in sys.modules


@pytest.mark.parametrize("name", APPS + ("tuning.search",))
def test_every_app_imports(name):
    assert callable(load_app(name).main)
