"""SNIO on a tiny random model: it climbs its objective, stays on the shell, leaves the
weights alone, streams every iteration and can be cancelled."""
from __future__ import annotations

import math
import threading

import pytest
import torch

from soundtrack.pipeline import Controls
from soundtrack.sampling.scores import ScoreTargets, Scorer
from soundtrack.sampling.snio import Cancelled, SNIOConfig, project_to_shell, snio, surrogate
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


def test_snio_climbs_its_objective_on_the_shell(models):
    cond, targets, embed, x_T = _setup(models)
    scorer = Scorer(cvsm=models.cvsm)
    before = {k: v.clone() for k, v in models.ldm.state_dict().items()}
    its = list(snio(models.ldm, models.vae, scorer, cond, targets, x_T, cfg=SNIOConfig(iters=4, lr=0.1),
                    video_embed=embed))
    assert [it.iter for it in its] == [0, 1, 2, 3, 4]
    assert its[-1].scores["total"] > its[0].scores["total"]
    assert set(its[0].scores) == {"tempo", "balance", "sync", "cvsm", "total"}
    assert its[0].music_mel.shape == (64, 1024) and its[0].sfx_mel.shape == (64, 1024)
    assert torch.equal(its[0].x_T, x_T)  # iteration 0 scores the starting noise itself
    assert its[-1].x_T.norm().item() == pytest.approx(math.sqrt(x_T.numel()), rel=1e-4)
    assert not torch.equal(its[-1].x_T, x_T)
    for k, v in models.ldm.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_snio_with_zero_iterations_is_plain_sampling(models):
    cond, targets, embed, x_T = _setup(models)
    its = list(snio(models.ldm, models.vae, Scorer(), cond, targets, x_T, cfg=SNIOConfig(iters=0)))
    assert len(its) == 1 and torch.equal(its[0].x_T, x_T)


def test_snio_cancel_stops_between_iterations(models):
    cond, targets, embed, x_T = _setup(models)
    cancel = threading.Event()
    gen = snio(models.ldm, models.vae, Scorer(), cond, targets, x_T, cfg=SNIOConfig(iters=5), cancel=cancel)
    next(gen)
    cancel.set()
    with pytest.raises(Cancelled):
        next(gen)


def test_surrogate_holds_the_known_region(models):
    cond, _, _, x_T = _setup(models)
    from soundtrack.models.ldm import Conditions

    both = Conditions.cat([cond, models.ldm.null_conditions(batch=1, frames=256)])
    known = torch.randn_like(x_T)
    mask = torch.zeros_like(x_T)
    mask[:, :, :64] = 1
    with torch.no_grad():
        z = surrogate(models.ldm, both, x_T, steps=2, guidance=3.0, known=known, mask=mask)
    assert torch.equal(z[:, :, :64], known[:, :, :64])
    assert not torch.equal(z[:, :, 64:], known[:, :, 64:])


def test_project_to_shell():
    x = torch.randn(3, 5) * 7
    assert project_to_shell(x).norm().item() == pytest.approx(math.sqrt(15), rel=1e-6)
