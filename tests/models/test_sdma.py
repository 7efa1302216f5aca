"""SDMA on a tiny AudioLDM2-shaped UNet2DConditionModel with random weights."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from soundtrack.models.sdma import (EFFECT, MUSIC, SDMAAttnProcessor, SDMAController, SDMAParams,
                                    js_divergence, set_plain, set_sdma, uses_sdma)

T, W, D = 16, 32, 16  # latent frames, 2 x 16 bins, token width
TYPES = torch.tensor([MUSIC, MUSIC, MUSIC, EFFECT, EFFECT, EFFECT])
LOUD = slice(8, 16)  # frames where the effects band is loud
FIRST_CROSS = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor"
FIRST_SELF = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor"


def tiny_unet():
    """AudioLDM2's UNet layout (8 latent channels in and out, cross-attention down/up blocks), tiny."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        in_channels=8, out_channels=8, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=D, attention_head_dim=2, norm_num_groups=8,
    ).eval()


def synthetic_x(batch: int = 2) -> torch.Tensor:
    """Clean latent (B, 8, T, 32): music band tonal (energy in 4 low bins) everywhere; effects
    band broadband, loud at frames 8-15 and almost silent elsewhere."""
    g = torch.Generator().manual_seed(1)
    sign = torch.randint(0, 2, (batch, 8, T, W), generator=g).float() * 2 - 1
    amp = torch.zeros(T, W)
    amp[:, :4] = 1.0  # music
    amp[:, 16:] = 0.01
    amp[LOUD, 16:] = 3.0  # effects hits
    return sign * amp


def run(unet, x, tokens, controller: SDMAController | None) -> torch.Tensor:
    if controller is not None:
        controller.update(x, torch.ones(x.shape[0]), torch.zeros(x.shape[0]), TYPES)
    t = torch.full((x.shape[0],), 10)
    return unet(x, t, encoder_hidden_states=tokens).sample


def test_js_divergence_bounds():
    p = torch.tensor([0.2, 0.3, 0.5, 0.0])
    assert float(js_divergence(p, p)) == pytest.approx(0.0, abs=1e-7)
    a, b = torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.25, 0.75])
    assert float(js_divergence(a, b)) == pytest.approx(math.log(2), abs=1e-6)
    assert 0 < float(js_divergence(p, a)) < math.log(2)


def test_controller_reads_the_spectra():
    x = synthetic_x()
    ctrl = SDMAController(SDMAParams(smooth=1))
    ctrl.update(x, torch.ones(2), torch.zeros(2), TYPES)
    assert ctrl.energy.shape == (2, 2, T, 16) and ctrl.divergence.shape == (2, T)
    assert ctrl.mask.shape == (2, T, 16)
    assert float(ctrl.mask[:, LOUD].min()) > 0.95  # effects dominate every bin at the hits
    assert float(ctrl.mask[:, :8, :4].max()) < 0.05  # music dominates its bins between hits
    # tonal music vs broadband effects: spectra diverge at the hits
    assert float(ctrl.divergence[:, LOUD].mean()) > 0.3
    # noise is subtracted: x_t = alpha x0 + sigma eps gives about the same estimate as x0
    alpha, sigma = torch.full((2,), 0.8), torch.full((2,), 0.6)
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    noisy = alpha.view(-1, 1, 1, 1) * x + sigma.view(-1, 1, 1, 1) * eps
    ctrl2 = SDMAController(SDMAParams(smooth=3))
    ctrl2.update(noisy, alpha, sigma, TYPES)
    # away from the edge that the 3x3 smoothing blurs
    assert float(ctrl2.mask[:, 9:15].mean()) > 0.9 and float(ctrl2.mask[:, :7, :4].mean()) < 0.1


def test_level_grids_and_bad_length():
    ctrl = SDMAController()
    ctrl.update(synthetic_x(), torch.ones(2), torch.zeros(2), TYPES)
    maps, stem = ctrl.level(T * W // 4)  # one downsampling: (8, 16)
    assert maps.shape == (2, 8 * 16, 3) and stem.shape == (1, 8 * 16, 1)
    assert torch.equal(stem[0, :16, 0], torch.tensor([0.0] * 8 + [1.0] * 8))  # music half, effects half
    with pytest.raises(ValueError, match="no level grid"):
        ctrl.level(T * W // 3)


def test_install_forward_and_plain_equivalence():
    unet = tiny_unet()
    x, tokens = synthetic_x(), torch.randn(2, len(TYPES), D, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain = run(unet, x, tokens, None)
        ctrl = SDMAController(SDMAParams(gamma=0.0, lam=0.0))
        set_sdma(unet, ctrl)
        assert uses_sdma(unet)
        assert all(isinstance(p, SDMAAttnProcessor) for p in unet.attn_processors.values())
        off = run(unet, x, tokens, ctrl)
        ctrl.params = SDMAParams()
        on = run(unet, x, tokens, ctrl)
        set_plain(unet)
        assert not uses_sdma(unet)
        again = run(unet, x, tokens, None)
    assert off.shape == plain.shape == (2, 8, T, W)
    torch.testing.assert_close(off, plain, atol=1e-5, rtol=1e-5)  # gamma = 0 and no routing: plain attention
    torch.testing.assert_close(again, plain)
    assert float((on - plain).abs().max()) > 1e-4  # SDMA on changes the output


def _probs(unet, x, tokens, params: SDMAParams) -> dict[str, torch.Tensor]:
    ctrl = SDMAController(params)
    ctrl.record = True
    set_sdma(unet, ctrl)
    with torch.no_grad():
        run(unet, x, tokens, ctrl)
    return ctrl.records


def test_cross_attention_routing():
    unet = tiny_unet()
    x, tokens = synthetic_x(), torch.randn(2, len(TYPES), D, generator=torch.Generator().manual_seed(3))
    off = _probs(unet, x, tokens, SDMAParams(lam=0.0, gamma=0.0))[FIRST_CROSS]  # (B, heads, T*W, 6)
    on = _probs(unet, x, tokens, SDMAParams(lam=0.9, gamma=0.0))[FIRST_CROSS]
    effect_tok, music_tok = TYPES == EFFECT, TYPES == MUSIC

    def mass(p, frames, cols, which):  # mean attention mass of the queries in (frames, cols) on token set
        p = p.reshape(2, p.shape[1], T, W, len(TYPES))[:, :, frames, cols][..., which].sum(-1)
        return float(p.mean())

    quiet = slice(0, 8)
    music_cols, effect_cols = slice(0, 4), slice(16, 32)
    # music-band queries (where music dominates) attend less to effect tokens than without routing
    assert mass(on, quiet, music_cols, effect_tok) < 0.5 * mass(off, quiet, music_cols, effect_tok)
    # and keep them where the effects are loud: effect tokens are attended where effects dominate
    assert mass(on, LOUD, music_cols, effect_tok) > 2 * mass(on, quiet, music_cols, effect_tok)
    # effects-band queries at the hits attend less to music tokens than without routing
    assert mass(on, LOUD, effect_cols, music_tok) < 0.5 * mass(off, LOUD, effect_cols, music_tok)


def test_self_attention_damping():
    unet = tiny_unet()
    x, tokens = synthetic_x(), torch.randn(2, len(TYPES), D, generator=torch.Generator().manual_seed(3))
    off = _probs(unet, x, tokens, SDMAParams(lam=0.0, gamma=0.0))[FIRST_SELF]  # (B, heads, T*W, T*W)
    on = _probs(unet, x, tokens, SDMAParams(lam=0.0, gamma=8.0))[FIRST_SELF]
    key_is_effect = (torch.arange(T * W) % W) >= 16

    def cross_stem(p, frames):  # music-band queries' attention mass on effects-band keys
        p = p.reshape(2, p.shape[1], T, W, T * W)[:, :, frames, :16][..., key_is_effect].sum(-1)
        return float(p.mean())

    assert cross_stem(on, LOUD) < 0.5 * cross_stem(off, LOUD)  # spectra diverge at the hits


def test_gradients_flow():
    unet = tiny_unet().train()
    ctrl = SDMAController()
    set_sdma(unet, ctrl)
    x = synthetic_x().requires_grad_(True)
    tokens = torch.randn(2, len(TYPES), D, requires_grad=True)
    out = run(unet, x, tokens, ctrl)
    out.square().mean().backward()
    grads = [p.grad for p in unet.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert tokens.grad is not None and float(tokens.grad.abs().sum()) > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_params_are_frozen_dataclass():
    p = SDMAParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.gamma = 1.0  # type: ignore[misc]
