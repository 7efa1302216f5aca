"""FAD embeddings: the stats embedding is fixed and deterministic, the CVSM one is the
encoder's unit-norm global embedding, and the Fréchet distance matches closed forms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from soundtrack.audio.embeddings import STATS_DIM, cvsm_embedding, frechet_distance, stats_embedding
from soundtrack.config import AUDIO

SR = AUDIO.sample_rate


def _tone(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def test_stats_embedding_is_deterministic_and_finite():
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    a, b = stats_embedding(noise), stats_embedding(noise.copy())
    assert a.shape == (STATS_DIM,) and np.isfinite(a).all()
    assert np.array_equal(a, b)
    tone = stats_embedding(_tone())
    assert not np.allclose(a, tone)
    assert np.isfinite(stats_embedding(np.zeros(2 * SR, np.float32))).all()  # silence stays finite
    # chroma mean of an A440 tone peaks at A (bins 20..31 are the chroma means, C = 0)
    assert int(np.argmax(tone[20:32])) == 9


def test_cvsm_embedding_uses_the_stem_encoder():
    from soundtrack.models.cvsm import CONFIGS, CVSM

    torch.manual_seed(0)
    model = CVSM(CONFIGS["tiny"]).eval()
    mel = torch.randn(2, 64, 1024) - 5
    music = cvsm_embedding(model, mel, stem="music")
    sfx = cvsm_embedding(model, mel, stem="sfx")
    assert music.shape == (2, CONFIGS["tiny"].embed_dim)
    assert torch.allclose(music.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(music, model.music(mel).embed) and not torch.allclose(music, sfx)
    with pytest.raises(ValueError, match="stem"):
        cvsm_embedding(model, mel, stem="mix")


def test_frechet_distance_closed_form_isotropic():
    # N(mu1, s1^2 I) vs N(mu2, s2^2 I): ||mu1 - mu2||^2 + D (s1 - s2)^2. Samples are whitened
    # to have exactly these moments, so only the eps on the diagonal separates the two.
    rng = np.random.default_rng(0)
    D, N = 6, 400

    def exact(mu: np.ndarray, sigma: float) -> np.ndarray:
        x = rng.standard_normal((N, D))
        x -= x.mean(axis=0)
        x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T  # sample cov = I
        return mu + sigma * x

    mu1, mu2 = np.zeros(D), np.full(D, 0.5)
    a, b = exact(mu1, 1.0), exact(mu2, 2.0)
    expected = float(np.sum((mu1 - mu2) ** 2) + D * (1.0 - 2.0) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-5)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-5)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_same_distribution_is_near_zero():
    rng = np.random.default_rng(1)
    mean, cov = rng.standard_normal(8), np.diag(rng.uniform(0.5, 2.0, 8))
    a = rng.multivariate_normal(mean, cov, size=20_000)
    b = rng.multivariate_normal(mean, cov, size=20_000)
    far = rng.multivariate_normal(mean + 1.0, cov, size=20_000)
    assert frechet_distance(a, b) < 0.01
    assert frechet_distance(a, far) == pytest.approx(8.0, rel=0.05)


def test_frechet_distance_few_samples_is_finite():
    rng = np.random.default_rng(2)
    d = frechet_distance(rng.standard_normal((2, STATS_DIM)), rng.standard_normal((1, STATS_DIM)))
    assert np.isfinite(d) and d >= 0
