"""SNIO: score-guided noise iterative optimisation (docs/method/snio.md).

The noisy latent x_{t_k} the sampler holds before step k (k = 0: the starting noise x_T) is
moved by gradient ascent on the scores of its decoded result, then sampling goes on from it.
A generator, as the studio streams it: each `next()` is one iteration and yields the scores
and the preview mels of the current latent; the caller may stop at any point (cancel).

    sampler = Sampler(model, cond, steps=10, noise=x_T)
    k = cfg.step(sampler.steps)
    x = sampler.run(sampler.start(), 0, k)          # the first k steps
    for it in snio(sampler, vae, scorer, targets, x, step=k, cfg=cfg):
        show(it.scores, it.music_mel, it.sfx_mel)
    z = sampler.run(it.x, k)                        # the rest, from the optimised latent

The gradient runs through a K-step DDIM surrogate of the sampler from step k (eq. 9; K = 1
is the sampler's own clean-latent prediction, as DITTO-2's one-step surrogate; K > 1 with
optional gradient checkpointing as DITTO) and the VAE decoder into the scores of
soundtrack/sampling/scores.py.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from soundtrack.config import SNIOConfig
from soundtrack.sampling.decode import decode_for, roll_of
from soundtrack.sampling.sampler import Sampler, denoised_from
from soundtrack.sampling.scores import Scorer, ScoreTargets


class Cancelled(Exception):
    """Raised inside a generation when its cancel event is set (a newer request superseded it)."""


@dataclass
class Iteration:
    """What one SNIO iteration shows: scores of the latent `x` *before* its update."""

    iter: int  # 0 .. iters; iteration `iters` is the final latent, scored without a step
    scores: dict[str, float]
    music_mel: Tensor  # (64, F) preview (the surrogate's decoded music stem)
    sfx_mel: Tensor  # (64, F)
    x: Tensor  # (1, 8, Tl, 32) the noisy latent these scores belong to (detached)


def surrogate(sampler: Sampler, x: Tensor, *, step: int = 0, steps: int = 1,
              use_checkpoint: bool = False, cond_grad: bool = False) -> Tensor:
    """The K-step DDIM estimate of the clean latent from x, the latent before sampler step `step` (eq. 9).

    K = `steps` DDIM (eta 0) steps from that step's timestep t_k down to 0, each with the
    sampler's guidance (grid term included) and outpainting hold; differentiable in x.
    K = 1 is the sampler's own x0 prediction at step k (DITTO-2's one-step surrogate).
    cond_grad: its gradient runs through the conditional branch only (eq. 9b, Sampler.guided).
    """
    t_k = int(sampler.timesteps[step])
    ts = [round(t_k * (steps - j) / steps) for j in range(steps)]  # t_k, ..., t_k / K
    pred = sampler.model.cfg.prediction_type
    x0 = x
    for j, t in enumerate(ts):
        a_t = sampler.alpha(t)
        x = sampler.hold(x, t, step)  # as the sampler holds the overlap before its step k
        tt = torch.tensor(t, device=x.device)
        if use_checkpoint and torch.is_grad_enabled():
            out = checkpoint(lambda v: sampler.guided(v, tt, grid=True, cond_grad=cond_grad), x,
                             use_reentrant=False)
        else:
            out = sampler.guided(x, tt, grid=True, cond_grad=cond_grad)
        x0 = denoised_from(out, x, a_t, pred)
        if j + 1 < len(ts):  # DDIM, eta = 0: x_{t'} = sqrt(a') x0 + sqrt(1 - a') eps
            a_next = sampler.alpha(ts[j + 1])
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
    return sampler.finish(x0)


def project_to_shell(x: Tensor) -> Tensor:
    """x * sqrt(D) / ||x||: the radius where a D-dimensional standard Gaussian concentrates (eq. 11)."""
    return x * math.sqrt(x.numel()) / x.norm().clamp_min(1e-8)


def snio(sampler: Sampler, vae: torch.nn.Module, scorer: Scorer, targets: ScoreTargets, x: Tensor, *,
         step: int = 0, cfg: SNIOConfig = SNIOConfig(), video_embed: Tensor | None = None,
         cancel: threading.Event | None = None) -> Iterator[Iteration]:
    """Algorithm 1 of docs/method/snio.md: gradient ascent on J with Adam on the latent x_{t_k}.

    x is the latent before sampler step `step` (k; k = 0: the starting noise, kept on the
    Gaussian shell). Yields iterations 0 .. cfg.iters (the last one scores the final latent
    without a step). Raises :class:`Cancelled` between iterations once `cancel` is set.
    Model weights are never updated (their gradients are not even computed).
    """
    # 1. Check inputs; freeze the networks (only x is optimised)
    assert x.ndim == 4 and x.shape[0] == 1, f"{x.shape=}"
    assert cfg.iters >= 0 and cfg.surrogate_steps >= 1 and 0 <= step < sampler.steps, f"{cfg=} {step=}"
    for m in (sampler.model, vae):
        m.requires_grad_(False)
    x = x.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=cfg.lr)
    for k in range(cfg.iters + 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        final = k == cfg.iters
        # 2. Surrogate clean latent -> decoded stems -> scores (eqs. 9, 1-8)
        with torch.set_grad_enabled(not final):
            z0 = surrogate(sampler, x, step=step, steps=cfg.surrogate_steps, use_checkpoint=cfg.checkpoint,
                           cond_grad=cfg.cond_grad)
            music, sfx = decode_for(sampler.model, vae, z0)
            scores = scorer(music, sfx, targets, video_embed=video_embed, roll=roll_of(sampler.model, z0))
        yield Iteration(iter=k, scores={n: float(v.detach().mean()) for n, v in scores.items()},
                        music_mel=music[0].detach(), sfx_mel=sfx[0].detach(), x=x.detach().clone())
        if final:
            break
        # 3. One ascent step on J (eq. 10); at x_T, back onto the Gaussian shell (eq. 11)
        opt.zero_grad(set_to_none=True)
        (-scores["total"].sum()).backward()
        opt.step()
        if cfg.shell and step == 0:
            with torch.no_grad():
                x.copy_(project_to_shell(x))


__all__ = ["Cancelled", "Iteration", "project_to_shell", "snio", "surrogate"]
