"""SNIO on a tiny random model: it climbs its objective (on the starting noise, on the shell;
and on an intermediate latent), leaves the weights alone, streams every iteration and can be
cancelled; its surrogate is the sampler's own prediction at the step it optimises."""
from __future__ import annotations

import math
import threading

import pytest
import torch

from soundtrack.pipeline import Controls
from soundtrack.sampling.scores import ScoreTargets, Scorer
from soundtrack.sampling.sampler import Sampler, denoised_from
from soundtrack.config import SNIOConfig
from soundtrack.sampling.snio import Cancelled, project_to_shell, snio, surrogate
from tests.test_pipeline import models  # noqa: F401  (the tiny-model fixture)


def _setup(models):
    g = torch.Generator().manual_seed(0)
    video = torch.rand(1, 256, 14, generator=g)
    thumbs = torch.randint(0, 256, (1, 256, 3, 32, 32), generator=g, dtype=torch.uint8)
    with torch.no_grad():
        enc = models.cvsm.video(video, thumbs)
        controls = Controls(instruments={"piano": 1.0}, tempo_bpm=120)
        cond = models.ldm.encode_conditions(video_tokens=enc.tokens, **controls.tensors())
    targets = ScoreTargets.make(tempo_bpm=120, instruments=controls.instruments, balance=0.5,
                                events_s=[1.0, 4.0, 7.5], n_frames=1024)
    x_T = torch.randn(1, 8, 256, 32, generator=g)
    return cond, targets, enc.embed, x_T


def _sampler(models, cond, x_T, **kw):
    return Sampler(models.ldm, cond, steps=4, noise=x_T, **kw)


def test_snio_climbs_its_objective_on_the_shell(models):
    cond, targets, embed, x_T = _setup(models)
    scorer = Scorer(cvsm=models.cvsm)
    before = {k: v.clone() for k, v in models.ldm.state_dict().items()}
    its = list(snio(_sampler(models, cond, x_T), models.vae, scorer, targets, x_T, step=0,
                    cfg=SNIOConfig(iters=4, lr=0.1), video_embed=embed))
    assert [it.iter for it in its] == [0, 1, 2, 3, 4]
    assert its[-1].scores["total"] > its[0].scores["total"]
    assert set(its[0].scores) == {"tempo", "balance", "sync", "cvsm", "total"}
    assert its[0].music_mel.shape == (64, 1024) and its[0].sfx_mel.shape == (64, 1024)
    assert torch.equal(its[0].x, x_T)  # iteration 0 scores the starting noise itself
    assert its[-1].x.norm().item() == pytest.approx(math.sqrt(x_T.numel()), rel=1e-4)
    assert not torch.equal(its[-1].x, x_T)
    for k, v in models.ldm.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_snio_on_an_intermediate_latent_climbs_and_sampling_goes_on_from_it(models):
    cond, targets, embed, x_T = _setup(models)
    sampler = _sampler(models, cond, x_T)
    with torch.no_grad():
        x_2 = sampler.run(sampler.start(), 0, 2)  # the latent before step 2 of 4
    its = list(snio(sampler, models.vae, Scorer(cvsm=models.cvsm), targets, x_2, step=2,
                    cfg=SNIOConfig(iters=3, lr=0.1), video_embed=embed))
    assert its[-1].scores["total"] > its[0].scores["total"]
    assert not torch.equal(its[-1].x, x_2)
    assert its[-1].x.norm().item() != pytest.approx(math.sqrt(x_T.numel()), rel=1e-3)  # no shell off x_T
    with torch.no_grad():
        z = sampler.run(its[-1].x, 2)
        plain = _sampler(models, cond, x_T)
        z_plain = plain.run(plain.start())
    assert z.shape == x_T.shape and torch.isfinite(z).all() and not torch.equal(z, z_plain)
    assert SNIOConfig(at=0.3).step(10) == 3 and SNIOConfig(at=0.0).step(10) == 0 and SNIOConfig(at=1.0).step(4) == 3


def test_the_step_after_snio_reuses_its_final_scoring_pass(models, monkeypatch):
    """SNIO's last pass evaluates the guided output at (x*, t_k); the sampler's step k needs
    exactly that, and takes it without running the UNet again. The result is the same run."""
    cond, targets, embed, x_T = _setup(models)
    calls = []
    forward = type(models.ldm).forward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(models.ldm), "forward", counted)
    z = {}
    for reuse in (True, False):
        sampler = _sampler(models, cond, x_T)
        with torch.no_grad():
            x_2 = sampler.run(sampler.start(), 0, 2)
        its = list(snio(sampler, models.vae, Scorer(), targets, x_2, step=2, cfg=SNIOConfig(iters=2, lr=0.1)))
        if not reuse:
            sampler.denoiser._memo = None
        calls.clear()
        with torch.no_grad():
            z[reuse] = sampler.run(its[-1].x, 2)
        assert len(calls) == (1 if reuse else 2)  # steps 2 and 3 of 4
    assert torch.equal(z[True], z[False])


def test_snio_with_zero_iterations_is_plain_sampling(models):
    cond, targets, embed, x_T = _setup(models)
    its = list(snio(_sampler(models, cond, x_T), models.vae, Scorer(), targets, x_T, cfg=SNIOConfig(iters=0)))
    assert len(its) == 1 and torch.equal(its[0].x, x_T)


def test_snio_cancel_stops_between_iterations(models):
    cond, targets, embed, x_T = _setup(models)
    cancel = threading.Event()
    gen = snio(_sampler(models, cond, x_T), models.vae, Scorer(), targets, x_T, cfg=SNIOConfig(iters=5),
               cancel=cancel)
    next(gen)
    cancel.set()
    with pytest.raises(Cancelled):
        next(gen)


def test_surrogate_holds_the_known_region(models):
    cond, _, _, x_T = _setup(models)
    known = torch.randn_like(x_T)
    mask = torch.zeros_like(x_T)
    mask[:, :, :64] = 1
    with torch.no_grad():
        z = surrogate(_sampler(models, cond, x_T, known=known, mask=mask), x_T, steps=2)
    assert torch.equal(z[:, :, :64], known[:, :, :64])
    assert not torch.equal(z[:, :, 64:], known[:, :, 64:])


def test_one_step_surrogate_is_the_samplers_prediction_at_its_step(models):
    """From x_T the surrogate predicts at the sampler's first timestep (999), not at t = 0."""
    cond, _, _, x_T = _setup(models)
    sampler = _sampler(models, cond, x_T)
    with torch.no_grad():
        for k in (0, 2):
            x = sampler.run(sampler.start(), 0, k) if k else sampler.start()
            t = sampler.timesteps[k]
            want = denoised_from(sampler.guided(x, t, grid=True), x, sampler.alpha(t), models.ldm.cfg.prediction_type)
            torch.testing.assert_close(surrogate(sampler, x, step=k), want)
    assert int(sampler.timesteps[0]) == 999


def test_project_to_shell():
    x = torch.randn(3, 5) * 7
    assert project_to_shell(x).norm().item() == pytest.approx(math.sqrt(15), rel=1e-6)
