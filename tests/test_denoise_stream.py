"""`tfdl.denoise.stream`: chunk by chunk, a causal model's offline output (the oracle:
`serve.Denoiser` on the whole recording), whatever the chunk sizes."""

import numpy as np
import pytest
import tensorflow as tf

from tfdl.denoise import model, serve
from tfdl.denoise.model import MODELS
from tfdl.denoise.stream import Stream


@pytest.fixture(scope="module")
def causal():
    net = MODELS.build("tcn_crm", bins=33, blocks=3, repeats=2, channels=8, hidden=16,
                       causal=True)
    rng = np.random.default_rng(0)
    net.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(np.float32)
                     for w in net.get_weights()])  # away from the identity mask
    return net, serve.Denoiser(net, fft_length=64, frame_step=16)


def _stream(net, denoiser, wave, sizes):
    s = Stream(net, denoiser, 64, 16, model.receptive_field(blocks=3, repeats=2))
    out, i, k = [], 0, 0
    while i < len(wave):
        out.append(s.push(wave[i:i + sizes[k % len(sizes)]]))
        i += sizes[k % len(sizes)]
        k += 1
    out.append(s.flush())
    return np.concatenate(out)


@pytest.mark.parametrize("n,sizes", [(1000, [1000]), (1001, [37]), (999, [1, 5, 200, 64]),
                                     (1500, [16, 300]), (70, [7]), (40, [40])])
def test_stream_equals_the_offline_pass(causal, n, sizes):
    net, denoiser = causal
    rng = np.random.default_rng(n)
    wave = (0.3 * rng.standard_normal(n)).astype(np.float32)
    offline = denoiser(tf.constant(wave[None]))[0].numpy()
    streamed = _stream(net, denoiser, wave, sizes)
    assert streamed.shape == (n,)
    np.testing.assert_allclose(streamed, offline, atol=2e-5)


def test_the_model_is_causal_so_a_prefix_is_final(causal):
    """What `push` returned for a prefix is what the whole recording gives there."""
    net, denoiser = causal
    wave = (0.3 * np.random.default_rng(1).standard_normal(3000)).astype(np.float32)
    s = Stream(net, denoiser, 64, 16, model.receptive_field(blocks=3, repeats=2))
    early = s.push(wave[:1500])
    assert 1500 - 64 <= len(early) <= 1500  # all but the last frame's worth
    offline = denoiser(tf.constant(wave[None]))[0].numpy()
    np.testing.assert_allclose(early, offline[:len(early)], atol=2e-5)
