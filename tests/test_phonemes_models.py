"""Phoneme models: golden parameter counts, the registry, search kwargs, every named config."""

import numpy as np
import pytest

from tfdl.phonemes import model as models
from tfdl.phonemes.configs import CONFIGS
from tfdl.phonemes.train import member_configs


def _dense(i, o):
    return i * o + o


@pytest.mark.parametrize("name,kw,expected", [
    ("logistic", dict(context=0), _dense(13, 5)),
    ("logistic", dict(context=2), _dense(65, 5)),
    ("mlp", dict(context=1, width=8, depth=2),
     _dense(39, 8) + 4 * 8 + _dense(8, 8) + 4 * 8 + _dense(8, 5)),
    ("resnet_basic", dict(context=1, width=8, depth=1),
     _dense(39, 8) + 4 * 8 + 2 * (_dense(8, 8) + 4 * 8) + _dense(8, 5)),
    ("resnet_bottleneck", dict(context=1, width=4, depth=2),
     _dense(39, 4) + 4 * 4
     + _dense(4, 16) + _dense(4, 4) + 16 + _dense(4, 4) + 16 + _dense(4, 16) + 64
     + _dense(16, 4) + 16 + _dense(4, 4) + 16 + _dense(4, 16) + 64
     + _dense(16, 5)),
])
def test_model_parameter_counts(name, kw, expected):
    model = models.MODELS.build(name, num_classes=5, num_features=13, dropout=0.1, **kw)
    assert model.count_params() == expected
    frames = 2 * kw["context"] + 1
    probs = model(np.zeros((3, frames, 13), np.float32)).numpy()
    assert probs.shape == (3, 5)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)


def test_registry_names():
    assert models.MODELS.names() == ["logistic", "mlp", "resnet_basic", "resnet_bottleneck"]
    with pytest.raises(ValueError, match="context must be an integer >= 0"):
        models.mlp(num_classes=5, context=-1)


def test_builders_take_search_kwargs_batchnorm_and_activation():
    for name in ("mlp", "resnet_basic", "resnet_bottleneck"):
        with_bn = models.MODELS.build(name, num_classes=5, context=1, width=16, depth=1)
        plain = models.MODELS.build(name, num_classes=5, context=1, width=16, depth=1,
                                    batchnorm=False, activation="swish")
        kinds = {type(layer).__name__ for layer in plain.layers}
        assert "BatchNormalization" not in kinds
        assert any(layer.name.endswith(("swish0", "swish1", "swish")) for layer in plain.layers)
        assert plain.count_params() < with_bn.count_params()


# Parameters (count_params) of each named config's networks on the ARCTIC data (65 phones,
# 13 MFCC): the benchmark table's column.
GOLDEN = {"logistic": 910, "mlp_frame": 571_969, "mlp": 771_649, "resnet_basic": 1_301_057,
          "resnet_bottleneck": 405_057, "ensemble": 771_649 + 1_301_057 + 405_057}


def test_every_named_config_validates_and_builds():
    recipes = [n for n in CONFIGS.names() if CONFIGS.resolve(n) == n]
    assert sorted(recipes) == sorted(GOLDEN)
    for name in CONFIGS.names():
        cfg = CONFIGS.get(name).validate()
        nets = [models.MODELS.build(m.model, num_classes=65, num_features=13, context=m.context,
                                    width=m.width, depth=m.depth, dropout=m.dropout)
                for _, m in member_configs(cfg)]
        assert sum(n.count_params() for n in nets) == GOLDEN[CONFIGS.resolve(name)], name
        assert len(CONFIGS.describe(name)) <= 55, name


def test_ensemble_members_take_their_models_recipes():
    cfg = CONFIGS.get("ensemble")
    cfg.members = ("mlp", "resnet_bottleneck", "mlp")
    cfg.epochs, cfg.seed = 2, 5
    got = [(n, m.model, m.width, m.depth, m.epochs, m.seed, m.context, m.members)
           for n, m in member_configs(cfg.validate())]
    assert got == [("mlp_0", "mlp", 512, 3, 2, 5, 15, ()),
                   ("resnet_bottleneck", "resnet_bottleneck", 128, 2, 2, 6, 15, ()),
                   ("mlp_1", "mlp", 512, 3, 2, 7, 15, ())]
    assert member_configs(CONFIGS.get("mlp")) == [("mlp", CONFIGS.get("mlp"))]
