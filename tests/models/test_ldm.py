"""The two-stem latent-diffusion model on tiny configs: layout, conditions, CFG's null tokens,
the beat grid (its training stage: tests/training/test_ldm.py)."""
from __future__ import annotations

import dataclasses

import torch

from soundtrack.models.ldm import CONFIGS, Conditions, SoundtrackLDM, join_stems, split_stems
from soundtrack.models.sdma import EFFECT, MUSIC, uses_sdma

TINY = CONFIGS["tiny"]


def controls(batch: int, frames: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "video_tokens": torch.randn(batch, frames, TINY.video_dim, generator=g),
        "instruments": (torch.rand(batch, 10, generator=g) > 0.5).float(),
        "tempo": torch.full((batch,), 110.0), "key": torch.arange(batch) % 12,
        "mode": torch.arange(batch) % 2,
        "intensity": torch.full((batch,), 0.8),
    }


def test_join_split_roundtrip():
    zm, zs = torch.randn(2, 8, 12, 16), torch.randn(2, 8, 12, 16)
    x = join_stems(zm, zs)
    assert x.shape == (2, 8, 12, 32)
    assert torch.equal(x[..., :16], zm) and torch.equal(x[..., 16:], zs)
    back = split_stems(x)
    assert torch.equal(back[0], zm) and torch.equal(back[1], zs)


def test_conditions_layout_and_forward():
    torch.manual_seed(0)
    model = SoundtrackLDM(TINY).eval()
    assert uses_sdma(model.unet)
    B, Tl = 2, 16
    cond = model.encode_conditions(**controls(B, Tl))
    n_music, n_effect = TINY.n_music_tokens, Tl // 4
    assert cond.aligned.shape == (B, TINY.c_in, Tl)
    assert cond.tokens.shape == (B, n_music + n_effect, TINY.cross_attention_dim)
    assert cond.token_types.tolist() == [MUSIC] * n_music + [EFFECT] * n_effect
    with torch.no_grad():
        out = model(torch.randn(B, 8, Tl, 32), torch.tensor([10, 900]), cond)
    assert out.shape == (B, 8, Tl, 32)
    assert model.controller.grid is None, "controller state must not outlive the call"


def test_cfg_dropout_replaces_tokens_with_null():
    torch.manual_seed(0)
    model = SoundtrackLDM(TINY).eval()
    B, Tl = 3, 16
    n_music = TINY.n_music_tokens
    with torch.no_grad():
        cond = model.encode_conditions(**controls(B, Tl), drop_music=torch.tensor([True, False, True]),
                                       drop_video=torch.tensor([False, True, True]))
        null = model.null_conditions(batch=B, frames=Tl)
        kept = model.encode_conditions(**controls(B, Tl))
    # row 0: music dropped, video kept
    assert torch.equal(cond.tokens[0, :n_music], null.tokens[0, :n_music])
    assert torch.equal(cond.tokens[0, n_music:], kept.tokens[0, n_music:])
    assert torch.equal(cond.aligned[0], kept.aligned[0])
    # row 1: video dropped (aligned channels, effect tokens and the global video token)
    assert torch.equal(cond.tokens[1, n_music:], null.tokens[1, n_music:])
    assert torch.equal(cond.aligned[1], null.aligned[1])
    assert torch.equal(cond.tokens[1, n_music - 1], null.tokens[1, n_music - 1])
    assert torch.equal(cond.tokens[1, : n_music - 1], kept.tokens[1, : n_music - 1])
    # row 2: both dropped = the null condition used by CFG at sampling
    assert torch.equal(cond.tokens[2], null.tokens[2]) and torch.equal(cond.aligned[2], null.aligned[2])
    both = Conditions.cat([kept, null])
    assert both.batch_size == 2 * B


def test_beat_grid_channels_start_at_zero_and_drop_with_the_music():
    torch.manual_seed(0)
    model = SoundtrackLDM(TINY).eval()
    B, Tl = 2, 16
    pos = torch.arange(Tl).float().expand(B, -1) / 12.5  # 120 BPM
    with torch.no_grad():
        plain = model.encode_conditions(**controls(B, Tl))
        fresh = model.encode_conditions(**controls(B, Tl), beat_pos=pos)
        assert torch.equal(plain.aligned, fresh.aligned), "zero-initialised: a fine-tune starts where it was"
        torch.nn.init.normal_(model.beat.weight)
        gridded = model.encode_conditions(**controls(B, Tl), beat_pos=pos,
                                          drop_music=torch.tensor([False, True]))
    assert not torch.allclose(gridded.aligned[0], plain.aligned[0])
    assert torch.equal(gridded.aligned[1], plain.aligned[1]), "the grid is a music condition"
    old = SoundtrackLDM(dataclasses.replace(TINY, beat_grid=False))
    assert not hasattr(old, "beat")  # runs made before the grid load unchanged
