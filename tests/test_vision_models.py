"""Vision models, figures, config checks and the optimisation-trend oracle."""

import numpy as np
import pytest

from tfdl.errors import InputError
from tfdl.vision import model as vision_models
from tfdl.vision import studies, visualize
from tfdl.vision.config import BackpropConfig, MNISTConfig, NotMNISTConfig, OptimizationConfig
from tfdl.vision.configs import OPTIMIZATION
from tfdl.vision.model import MODELS


def test_registry_and_golden_param_counts():
    assert MODELS.names() == ["cnn", "mlp"]
    assert MODELS.build("mlp").count_params() == 5_012_490  # 784-1024x5-10
    assert MODELS.build("mlp", width=512).count_params() == 1_457_674
    assert MODELS.build("cnn").count_params() == 421_658
    with pytest.raises(ValueError, match="initializer must be one of"):
        MODELS.build("mlp", initializer="zeros")


def test_initializers_have_the_documented_scale():
    k = lambda init: MODELS.build("mlp", depth=1, width=512, initializer=init, seed=1) \
        .get_layer("hidden_1").kernel.numpy()
    assert abs(k("normal").std() - 0.01) < 5e-4
    assert abs(k("xavier").std() - np.sqrt(2 / (784 + 512))) < 2e-3
    assert abs(k("he").std() - np.sqrt(2 / 784)) < 5e-3


def test_augmentation_and_dropout_only_in_training():
    x = np.random.default_rng(0).uniform(0, 255, (4, 28, 28)).astype(np.float32)
    for model in (MODELS.build("cnn", filters=(4,), dense=8, seed=0),
                  MODELS.build("mlp", depth=2, width=16, dropout=0.5, input_dropout=0.2,
                               shift=0.2, rotation=0.1, seed=0)):
        a, b = model(x, training=False).numpy(), model(x, training=False).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(model(x, training=True).numpy(), a)
        np.testing.assert_allclose(a.sum(axis=1), 1, atol=1e-5)


def test_ensemble_averages_members():
    x = np.random.default_rng(1).uniform(0, 255, (3, 28, 28)).astype(np.float32)
    members = [MODELS.build("mlp", depth=1, width=8, seed=s, model_name=f"m{s}")
               for s in range(3)]
    ens = vision_models.ensemble(members)
    want = np.mean([m(x, training=False).numpy() for m in members], axis=0)
    np.testing.assert_allclose(ens(x, training=False).numpy(), want, atol=1e-6)


def test_hidden_activations():
    model = MODELS.build("mlp", depth=2, width=8, shift=0.1, seed=0)
    feats, names = vision_models.hidden_activations(model)
    assert names == ["hidden_1", "hidden_2", "probabilities"]
    x = np.random.default_rng(2).integers(0, 256, (5, 28, 28)).astype(np.float32)
    outs = feats(x, training=False)
    assert [o.shape[-1] for o in outs] == [8, 8, 10]
    np.testing.assert_allclose(outs[-1].numpy(), model(x, training=False).numpy(), atol=1e-6)


def test_top_images_picks_winners_in_score_order():
    scores = np.array([[0.9, 0.1, 0.0],
                       [0.2, 0.8, 0.0],
                       [0.95, 0.05, 0.0],
                       [0.0, 0.0, 0.0],   # silent: wins nothing
                       [0.6, 0.4, 0.0]])
    rows = visualize.top_images(scores, k=2)
    assert [r.tolist() for r in rows] == [[2, 0], [1], []]
    rows = visualize.top_images(scores, dims=[1, 2], k=10)  # restricted to two units
    assert [r.tolist() for r in rows] == [[1, 4, 0, 2], []]


def test_embeddings_and_figures(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    feats = rng.standard_normal((60, 80)) + 6 * labels[:, None]
    pca = visualize.embed(feats, "pca")
    tsne = visualize.embed(feats, "tsne", max_iter=250)
    assert pca.shape == tsne.shape == (60, 2)
    # Well-separated classes stay separated: class means farther apart than spreads.
    means = np.array([pca[labels == c].mean(0) for c in range(3)])
    assert np.linalg.norm(means[0] - means[2]) > 3 * pca[labels == 0].std()
    with pytest.raises(ValueError, match="method must be one of"):
        visualize.embed(feats, "umap")
    p = visualize.embedding_figure([("a", pca), ("b", tsne)], labels, list("xyz"),
                                   tmp_path / "e.png")
    images = rng.integers(0, 255, (60, 28, 28))
    g = visualize.image_grid(images, [np.arange(10), np.arange(3), np.array([], int)],
                             ["0", "1", "2"], tmp_path / "g.png")
    c = visualize.curves({"a": [1.0, None, 0.5], "a test": [1.2, 1.0, 0.9]}, tmp_path / "c.png")
    for f in (p, g, c):
        assert f.stat().st_size > 1000


def test_config_validation_names_the_flag():
    with pytest.raises(InputError, match="--config.epochs must be a positive integer"):
        MNISTConfig(epochs=0).validate()
    with pytest.raises(InputError, match=r"--config.dropout must be in \[0, 1\)"):
        MNISTConfig(dropout=1.0).validate()
    with pytest.raises(InputError, match="--config.test_fraction"):
        NotMNISTConfig(test_fraction=0).validate()
    with pytest.raises(InputError, match="--config.filters"):
        NotMNISTConfig(filters=(0,)).validate()
    with pytest.raises(InputError, match="--config.study"):
        OptimizationConfig(study="all").validate()
    with pytest.raises(InputError, match="--config.train_size"):
        BackpropConfig(train_size=-1).validate()


@pytest.mark.dataset("mnist")
def test_optimization_trends_on_short_runs(tmp_path, data_root):
    """The reference's trends, by final training loss (not by eye), through the app's library call.

    2,000 training images, 5 x 128, 3 epochs: sigmoid + N(0, 0.01) with plain
    SGD (lr 1.0) stays at chance (ln 10 = 2.303); ReLU + He with Adam ends
    lowest of all ten runs.
    """
    cfg = OPTIMIZATION.get("optimization")
    cfg.train_size, cfg.test_size, cfg.width, cfg.epochs, cfg.batch_size = 2000, 10, 128, 3, 64
    m = studies.run(cfg, tmp_path, str(data_root))
    final = {(o, s): (v if v is not None else np.inf)
             for o, runs in m["final_training_loss"].items() for s, v in runs.items()}
    assert len(final) == 10
    assert final[("sgd", "sigmoid+N(0,0.01)")] > 0.95 * np.log(10)
    best = min(final, key=final.get)
    assert best == ("adam", "relu+He"), final
    assert final[("adam", "relu+He")] < 0.5 * np.log(10)
    assert (tmp_path / "optimization_sgd.png").exists()
    assert (tmp_path / "optimization_adam.png").exists()
