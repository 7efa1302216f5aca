"""CVSM: shapes, the losses of eqs. 4-7, export/load (training and retrieval: tests/training/test_cvsm.py)."""
from __future__ import annotations

import json

import pytest
import torch

from soundtrack.config import config_from_dict
from soundtrack.errors import InputError
from soundtrack.models.cvsm import CONFIGS, CVSM, CVSMConfig, info_nce, load_cvsm, local_nce, video_tokens

TINY = CONFIGS["tiny"]


def _random_batch(B: int = 2, *, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    events = torch.zeros(B, 256)
    events[:, [20, 90, 171]] = 1.0
    return {
        "video": torch.rand(B, 256, 14, generator=g),
        "thumbs": torch.randint(0, 256, (B, 256, 3, 32, 32), generator=g, dtype=torch.uint8),
        "music_mel": torch.randn(B, 64, 1024, generator=g) * 2 - 5,
        "sfx_mel": torch.randn(B, 64, 1024, generator=g) * 2 - 8,
        "events": events,
    }


def _tiny_model(seed: int = 0) -> CVSM:
    torch.manual_seed(seed)
    return CVSM(TINY)


def test_shapes_and_unit_norm():
    model, b = _tiny_model(), _random_batch(3)
    v = model.video(b["video"], b["thumbs"])
    m, e = model.music(b["music_mel"]), model.effects(b["sfx_mel"])
    for enc in (v, m, e):
        assert enc.tokens.shape == (3, 256, TINY.token_dim)
        assert enc.embed.shape == (3, TINY.embed_dim)
        torch.testing.assert_close(enc.embed.norm(dim=-1), torch.ones(3))
    assert video_tokens(model, b["video"], b["thumbs"]).shape == (3, 256, TINY.token_dim)


def test_forward_losses_finite_and_all_parameters_used():
    model = _tiny_model()
    out = model(_random_batch())
    assert {"loss", "clip_video_music", "clip_video_effects", "clip_effects_music", "local",
            "temperature", "local_temperature"} <= set(out)
    assert all(torch.isfinite(v) for v in out.values())
    assert out["temperature"] == pytest.approx(TINY.temperature, rel=1e-5)
    out["loss"].backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused  # DDP needs every parameter in the graph


def test_info_nce_prefers_matching_pairs():
    z = torch.nn.functional.normalize(torch.randn(6, 16), dim=-1)
    scale = torch.tensor(20.0)
    assert info_nce(z, z, scale=scale) < info_nce(z, z.roll(1, dims=0), scale=scale)


def test_local_term_prefers_the_aligned_frame():
    torch.manual_seed(0)
    tokens = torch.randn(2, 256, 16)  # (B, T, D)
    events = torch.zeros(2, 256)
    events[0, [30, 100, 200]] = 1.0
    events[1, [50, 51, 180]] = 1.0
    scale = torch.tensor(10.0)
    aligned = local_nce(tokens, tokens, events, scale=scale)
    for shift in (2, 5, 25):
        shifted = local_nce(tokens, tokens.roll(shift, dims=1), events, scale=scale)
        assert aligned < shifted - 1.0, (shift, float(aligned), float(shifted))
    no_events = local_nce(tokens.requires_grad_(), tokens, torch.zeros(2, 256), scale=scale)
    assert no_events == 0 and no_events.requires_grad


def test_load_cvsm_round_trip(tmp_path):
    from soundtrack.training.loop import export

    model = _tiny_model(seed=3).eval()
    export(model, TINY, tmp_path)
    loaded = load_cvsm(tmp_path)
    assert loaded.cfg == TINY and not loaded.training
    b = _random_batch()
    with torch.no_grad():
        for key, value in model(b).items():
            torch.testing.assert_close(loaded(b)[key], value, rtol=0, atol=0)


def test_load_cvsm_missing_raises(tmp_path):
    with pytest.raises(InputError, match=r"no CVSM in .*python -m soundtrack\.training cvsm"):
        load_cvsm(tmp_path)


def test_config_round_trips_through_json():
    import dataclasses

    for cfg in CONFIGS.values():
        assert config_from_dict(CVSMConfig, json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
