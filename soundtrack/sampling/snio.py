"""SNIO: score-guided noise iterative optimisation of the starting noise (docs/method/snio.md).

A generator, as the studio streams it: each `next()` is one iteration and yields the
scores and the preview mels of the current noise; the caller may stop at any point (cancel)
and keeps the last noise (warm start for the next control change).

    for it in snio(model, vae, scorer, cond, targets, x_T, cfg=SNIOConfig(iters=3)):
        show(it.scores, it.music_mel, it.sfx_mel)
    x_T = it.x_T                      # the optimised noise, on the Gaussian shell

The gradient runs through a K-step DDIM surrogate of the sampler (eq. 9; K = 1 is a
one-step surrogate as DITTO-2, K > 1 with optional gradient checkpointing as DITTO) and the
VAE decoder into the scores of soundtrack/sampling/scores.py.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from soundtrack.models.ldm import Conditions, SoundtrackLDM, split_stems
from soundtrack.sampling.sample import denoised_from, make_scheduler
from soundtrack.sampling.scores import Scorer, ScoreTargets


class Cancelled(Exception):
    """Raised inside a generation when its cancel event is set (a newer request superseded it)."""


@dataclass(frozen=True)
class SNIOConfig:
    iters: int = 2  # N of eq. (10); 0 = plain sampling
    lr: float = 0.08  # Adam step on the noise (eq. 10)
    surrogate_steps: int = 1  # K of eq. (9)
    checkpoint: bool = False  # recompute UNet activations in the backward pass (memory for time)
    shell: bool = True  # project onto the Gaussian shell ||x|| = sqrt(D) after each step (eq. 11)


@dataclass
class Iteration:
    """What one SNIO iteration shows: scores of the noise `x_T` *before* its update."""

    iter: int  # 0 .. iters; iteration `iters` is the final noise, scored without a step
    scores: dict[str, float]
    music_mel: Tensor  # (64, F) preview (the surrogate's decoded music stem)
    sfx_mel: Tensor  # (64, F)
    x_T: Tensor  # (1, 8, Tl, 32) the noise these scores belong to (detached)


def noised(known: Tensor, noise: Tensor, alpha_cumprod: Tensor) -> Tensor:
    """q(x_t | x_0 = known) with the given noise: sqrt(a) known + sqrt(1 - a) noise."""
    return alpha_cumprod.sqrt() * known + (1 - alpha_cumprod).sqrt() * noise


def surrogate(model: SoundtrackLDM, both: Conditions, x_T: Tensor, *, steps: int, guidance: float,
              known: Tensor | None = None, mask: Tensor | None = None, use_checkpoint: bool = False) -> Tensor:
    """The K-step DDIM estimate of the clean latent from x_T (eq. 9), differentiable in x_T.

    both: the conditional and NULL conditions concatenated (batch 2, eq. 14); known/mask
    (1, 8, Tl, 32): an outpainting region held at the previous window's latent (eq. 12).
    """
    sched = make_scheduler(model, "ddim")
    sched.set_timesteps(steps, device=x_T.device)
    acp = sched.alphas_cumprod.to(x_T.device)
    timesteps = list(sched.timesteps)
    x = x_T
    x0 = x_T
    for k, t in enumerate(timesteps):
        a_t = acp[t.long()]
        if known is not None:
            x = mask * noised(known, x_T, a_t) + (1 - mask) * x  # eq. (12)
        if use_checkpoint and torch.is_grad_enabled():
            out = checkpoint(_guided, model, both, x, t, guidance, use_reentrant=False)
        else:
            out = _guided(model, both, x, t, guidance)
        x0 = denoised_from(out, x, a_t, model.cfg.prediction_type)  # (1, 8, Tl, 32)
        if k + 1 < len(timesteps):  # DDIM, eta = 0: x_{t'} = sqrt(a') x0 + sqrt(1 - a') eps
            a_next = acp[timesteps[k + 1].long()]
            eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
    if known is not None:
        x0 = mask * known + (1 - mask) * x0
    return x0


def _guided(model: SoundtrackLDM, both: Conditions, x: Tensor, t: Tensor, guidance: float) -> Tensor:
    out_c, out_u = model(torch.cat([x, x]), t, both).chunk(2)
    return out_u + guidance * (out_c - out_u)  # eq. (14) of sdma.md


def decode_stems(vae: torch.nn.Module, z: Tensor, scaling: Tensor | float) -> tuple[Tensor, Tensor]:
    """Scaled two-stem latent (B, 8, Tl, 32) -> (music, effects) log-mels (B, 64, 4 Tl), differentiable."""
    z_music, z_sfx = split_stems(z / float(scaling))
    mels = vae.decode(torch.cat([z_music, z_sfx]))  # one batch for both stems
    return mels.chunk(2)


def project_to_shell(x: Tensor) -> Tensor:
    """x * sqrt(D) / ||x||: the radius where a D-dimensional standard Gaussian concentrates (eq. 11)."""
    return x * math.sqrt(x.numel()) / x.norm().clamp_min(1e-8)


def snio(model: SoundtrackLDM, vae: torch.nn.Module, scorer: Scorer, cond: Conditions, targets: ScoreTargets,
         x_T: Tensor, *, cfg: SNIOConfig = SNIOConfig(), guidance: float = 3.0,
         video_embed: Tensor | None = None, known: Tensor | None = None, mask: Tensor | None = None,
         cancel: threading.Event | None = None) -> Iterator[Iteration]:
    """Algorithm 1 of docs/method/snio.md: gradient ascent on J(x_T) with Adam, on the shell.

    Yields iterations 0 .. cfg.iters (the last one scores the final noise without a step).
    Raises :class:`Cancelled` between iterations once `cancel` is set. Model weights are
    never updated (their gradients are not even computed).
    """
    # 1. Check inputs; freeze the networks (only x_T is optimised)
    assert x_T.ndim == 4 and x_T.shape[0] == 1, f"{x_T.shape=}"
    assert cfg.iters >= 0 and cfg.surrogate_steps >= 1, f"{cfg=}"
    for m in (model, vae):
        m.requires_grad_(False)
    both = Conditions.cat([cond, model.null_conditions(batch=1, frames=cond.frames)])
    x = x_T.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=cfg.lr)
    for k in range(cfg.iters + 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        final = k == cfg.iters
        # 2. Surrogate clean latent -> decoded stems -> scores (eqs. 9, 1-8)
        with torch.set_grad_enabled(not final):
            z0 = surrogate(model, both, x, steps=cfg.surrogate_steps, guidance=guidance, known=known,
                           mask=mask, use_checkpoint=cfg.checkpoint)
            music, sfx = decode_stems(vae, z0, model.latent_scale)
            scores = scorer(music, sfx, targets, video_embed=video_embed)
        yield Iteration(iter=k, scores={n: float(v.detach().mean()) for n, v in scores.items()},
                        music_mel=music[0].detach(), sfx_mel=sfx[0].detach(), x_T=x.detach().clone())
        if final:
            break
        # 3. One ascent step on J (eq. 10), then back onto the shell (eq. 11)
        opt.zero_grad(set_to_none=True)
        (-scores["total"].sum()).backward()
        opt.step()
        if cfg.shell:
            with torch.no_grad():
                x.copy_(project_to_shell(x))


__all__ = ["Cancelled", "Iteration", "SNIOConfig", "decode_stems", "noised", "project_to_shell", "snio",
           "surrogate"]
