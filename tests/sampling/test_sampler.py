"""The CFG sampler on a tiny random model, 3 steps."""
from __future__ import annotations

import pytest
import torch

from soundtrack.models.ldm import CONFIGS, SoundtrackLDM
from soundtrack.sampling.sampler import Sampler, make_scheduler, sample

B, TL = 2, 16
SHAPE = (B, 8, TL, 32)


@pytest.fixture(scope="module")
def model_and_cond():
    torch.manual_seed(0)
    cfg = CONFIGS["tiny"]
    model = SoundtrackLDM(cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        cond = model.encode_conditions(video_tokens=torch.randn(B, TL, cfg.video_dim, generator=g),
                                       instruments=torch.rand(B, 10, generator=g),
                                       tempo=torch.tensor([90.0, 140.0]),
                                       key=torch.tensor([0, 7]), mode=torch.tensor([0, 1]),
                                       intensity=torch.tensor([0.7, 1.0]))
    return model, cond


@pytest.mark.parametrize("scheduler", ["dpm++", "ddim"])
def test_shape_determinism_and_callback(model_and_cond, scheduler):
    model, cond = model_and_cond
    seen: list[dict] = []
    with torch.no_grad():
        a = sample(model, cond, shape=SHAPE, steps=3, scheduler=scheduler,
                   generator=torch.Generator().manual_seed(0), callback=seen.append)
        b = sample(model, cond, shape=SHAPE, steps=3, scheduler=scheduler,
                   generator=torch.Generator().manual_seed(0))
        c = sample(model, cond, shape=SHAPE, steps=3, scheduler=scheduler,
                   generator=torch.Generator().manual_seed(1))
    assert a.shape == SHAPE and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert [s["i"] for s in seen] == [0, 1, 2]
    assert seen[0]["t"] > seen[1]["t"] > seen[2]["t"]
    assert all(s["x"].shape == SHAPE and s["denoised"].shape == SHAPE for s in seen)


def _conditional_only(model, cond, x_T: torch.Tensor, steps: int) -> torch.Tensor:
    sched = make_scheduler(model, "dpm++")
    sched.set_timesteps(steps)
    x = x_T * sched.init_noise_sigma
    for t in sched.timesteps:
        x = sched.step(model(x, t, cond), t, x).prev_sample
    return x


def test_guidance_one_is_the_conditional_path(model_and_cond):
    model, cond = model_and_cond
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = _conditional_only(model, cond, x_T, 3)
        one = sample(model, cond, shape=SHAPE, steps=3, guidance=1.0, x_T=x_T)
        # through the batched 2B CFG path: rows must not mix (SDMA state is per row)
        batched = sample(model, cond, shape=SHAPE, steps=3, guidance=1.0 + 1e-9, x_T=x_T)
        guided = sample(model, cond, shape=SHAPE, steps=3, guidance=3.0, x_T=x_T)
    torch.testing.assert_close(one, ref)
    torch.testing.assert_close(batched, ref, atol=1e-4, rtol=1e-4)
    assert float((guided - ref).abs().max()) > 1e-3


def test_rejects_mismatched_shape(model_and_cond):
    model, cond = model_and_cond
    with pytest.raises(ValueError, match="conditions are for"):
        sample(model, cond, shape=(B, 8, TL + 4, 32), steps=2)


def test_a_run_split_at_any_step_is_the_same_run(model_and_cond):
    """SNIO optimises the latent between two calls: with nothing changed, the result is unchanged."""
    model, cond = model_and_cond
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        whole = sample(model, cond, shape=SHAPE, steps=4, x_T=x_T)
        sampler = Sampler(model, cond, steps=4, noise=x_T)
        half = sampler.run(sampler.start(), 0, 2)
        split = sampler.run(half, 2)
    torch.testing.assert_close(split, whole)


def test_outpainting_holds_the_overlap_for_the_first_hold_until_of_the_steps(model_and_cond):
    """snio.md eqs. 12, 12b: held at every step the overlap is kept exactly; held for the first
    half it is released after them, so the result there differs from the known latent but starts
    from it, and the rest of the window is generated under it."""
    model, cond = model_and_cond
    x_T = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5))
    known = torch.randn(SHAPE, generator=torch.Generator().manual_seed(6))
    mask = torch.zeros(SHAPE)
    mask[:, :, :4] = 1.0

    def run(**kw) -> torch.Tensor:
        with torch.no_grad():
            s = Sampler(model, cond, steps=4, noise=x_T, known=known, mask=mask, **kw)
            return s.run(s.start())

    every, half, free = run(), run(hold_until=0.5), run(hold_until=0.0)
    assert torch.equal(every[:, :, :4], known[:, :, :4])
    assert not torch.equal(half[:, :, :4], known[:, :, :4])
    err = {name: (z[:, :, :4] - known[:, :, :4]).abs().mean() for name, z in (("half", half), ("free", free))}
    assert err["half"] < err["free"]  # two held steps leave it nearer the known latent than none
    assert not torch.equal(half[:, :, 4:], free[:, :, 4:])


def test_grid_guidance_pushes_along_the_grid_only_early():
    torch.manual_seed(0)
    model = SoundtrackLDM(CONFIGS["tiny"]).eval()
    with torch.no_grad():
        model.beat.weight.normal_(0, 0.5)  # the grid layer is zero-initialised
        g = torch.Generator().manual_seed(5)
        beat_pos = (torch.arange(TL).float() / 4)[None].expand(B, -1)
        kw = dict(video_tokens=torch.randn(B, TL, model.cfg.video_dim, generator=g),
                  instruments=torch.rand(B, 10, generator=g), tempo=torch.tensor([90.0, 140.0]),
                  key=torch.tensor([0, 7]), mode=torch.tensor([0, 1]), intensity=torch.tensor([0.7, 1.0]))
        with_grid, gridless = model.encode_conditions(beat_pos=beat_pos, **kw), model.encode_conditions(**kw)
        x_T = torch.randn(SHAPE, generator=g)
        plain = sample(model, with_grid, shape=SHAPE, steps=4, x_T=x_T)
        pushed = sample(model, with_grid, shape=SHAPE, steps=4, x_T=x_T, gridless=gridless, grid_guidance=5.0)
        same = sample(model, with_grid, shape=SHAPE, steps=4, x_T=x_T, gridless=with_grid, grid_guidance=5.0)
        sampler = Sampler(model, with_grid, steps=4, noise=x_T, gridless=gridless, grid_guidance=5.0)
    assert float((pushed - plain)[..., :16].abs().max()) > 1e-3
    with torch.no_grad():  # the grid term moves the music half of the prediction, never the effects half
        t = sampler.timesteps[0]
        eps_pushed = sampler.guided(x_T, t, grid=True)
        eps_plain = Sampler(model, with_grid, steps=4, noise=x_T).guided(x_T, t, grid=True)
    assert float((eps_pushed - eps_plain)[..., :16].abs().max()) > 1e-3
    torch.testing.assert_close(eps_pushed[..., 16:], eps_plain[..., 16:])
    torch.testing.assert_close(same, plain)  # the term is the grid's effect: none when nothing differs
    assert sampler.grid_steps == 2  # eq. (14b) acts on the first half of the steps


def test_cond_grad_keeps_the_guided_value_and_takes_the_conditional_branchs_jacobian():
    """snio.md eq. 9b: the same guided output, with the gradient of the conditional branch alone."""
    torch.manual_seed(0)
    model = SoundtrackLDM(CONFIGS["tiny"]).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():
        model.beat.weight.normal_(0, 0.5)
        kw = dict(video_tokens=torch.randn(B, TL, model.cfg.video_dim, generator=g),
                  instruments=torch.rand(B, 10, generator=g), tempo=torch.tensor([90.0, 140.0]),
                  key=torch.tensor([0, 7]), mode=torch.tensor([0, 1]), intensity=torch.tensor([0.7, 1.0]))
        cond = model.encode_conditions(beat_pos=(torch.arange(TL).float() / 4)[None].expand(B, -1), **kw)
        gridless = model.encode_conditions(**kw)
    x_T, v = torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)
    sampler = Sampler(model, cond, steps=4, noise=x_T, gridless=gridless, grid_guidance=5.0)
    t = sampler.timesteps[1]

    def value_and_grad(f):
        x = x_T.clone().requires_grad_(True)
        out = f(x)
        return out.detach(), torch.autograd.grad((out * v).sum(), x)[0]

    full, g_full = value_and_grad(lambda x: sampler.guided(x, t, grid=True))
    approx, g_approx = value_and_grad(lambda x: sampler.guided(x, t, grid=True, cond_grad=True))
    _, g_cond = value_and_grad(lambda x: model(x, t, cond))
    torch.testing.assert_close(approx, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g_approx, g_cond)
    assert float((g_full - g_approx).abs().max()) > 1e-3 * float(g_full.abs().max())
