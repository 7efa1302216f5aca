"""The sampler: classifier-free-guided DPM-Solver++ (2M) or DDIM over the two-stem latent.

A plain function with a per-step callback, as k-diffusion's samplers:

    cond = model.encode_conditions(video_tokens=..., instruments=..., ...)   # once
    z = sample(model, cond, shape=(1, 8, 256, 32), steps=25, guidance=3.0,
               generator=torch.Generator().manual_seed(0), callback=print_step)
    music_mel, sfx_mel = decode_latents(vae, z, model.latent_scale)

Classifier-free guidance (docs/method/sdma.md, eq. 14) evaluates the conditional and the
NULL condition in one UNet batch of 2B.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from soundtrack.models.ldm import Conditions, SoundtrackLDM, split_stems

SCHEDULERS = ("dpm++", "ddim")


def make_scheduler(model: SoundtrackLDM, name: str):
    """A diffusers inference scheduler on the model's training noise schedule."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    train_cfg = model.noise_scheduler().config
    if name == "dpm++":
        return DPMSolverMultistepScheduler.from_config(train_cfg, algorithm_type="dpmsolver++",
                                                       solver_order=2)
    if name == "ddim":
        return DDIMScheduler.from_config(train_cfg, set_alpha_to_one=False)
    raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}")


def denoised_from(model_output: Tensor, x_t: Tensor, alpha_cumprod: Tensor, prediction_type: str) -> Tensor:
    """The clean-latent estimate x_0 from an epsilon or v prediction at x_t."""
    a, s = alpha_cumprod.sqrt(), (1 - alpha_cumprod).sqrt()
    if prediction_type == "epsilon":
        return (x_t - s * model_output) / a
    return a * x_t - s * model_output  # v_prediction


def sample(model: SoundtrackLDM, cond: Conditions, *, shape: tuple[int, int, int, int], steps: int = 25,
           guidance: float = 3.0, scheduler: str = "dpm++", generator: torch.Generator | None = None,
           x_T: Tensor | None = None, callback: Callable[[dict], None] | None = None,
           known: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
    """Scaled latents (B, 8, Tl, 32) = concat(music, effects) drawn from the model given `cond`.

    guidance: CFG scale w (eq. 14); 1 evaluates only the conditional branch.
    x_T: starting noise (else drawn with `generator`); callback gets {"i", "t", "x", "denoised"} each step.
    known, mask (B, 8, Tl, 32): outpainting (docs/method/snio.md eq. 12): where mask is 1 the
    latent is held at `known` (noised to each step's level with x_T's own noise), so a window
    continues the previous one's overlap; mask 0 is generated.
    Runs with autograd as the caller has it: wrap in `torch.no_grad()` unless optimising through it (SNIO).
    """
    # 1. Check inputs
    B, C, Tl, W = shape
    if cond.batch_size != B or cond.frames != Tl:
        raise ValueError(f"conditions are for batch {cond.batch_size} x {cond.frames} frames, "
                         f"shape is {shape}")
    device = cond.tokens.device
    # 2. Scheduler and starting noise
    sched = make_scheduler(model, scheduler)
    sched.set_timesteps(steps, device=device)
    if x_T is None:
        x_T = torch.randn(shape, generator=generator, device=generator.device if generator else device)
    assert x_T.shape == tuple(shape), f"{x_T.shape=} vs {shape=}"
    x = x_T.to(device) * sched.init_noise_sigma
    # 3. Conditions for CFG: conditional and NULL in one batch of 2B
    use_cfg = guidance != 1.0
    both = Conditions.cat([cond, model.null_conditions(batch=B, frames=Tl)]) if use_cfg else cond
    acp = sched.alphas_cumprod.to(device)
    if known is not None:
        assert mask is not None and known.shape == mask.shape == tuple(shape), f"{known.shape=} {shape=}"
        noise = x_T.to(device)
    # 4. Denoising loop
    timesteps = list(sched.timesteps)
    for i, t in enumerate(timesteps):
        if known is not None:  # eq. (12): hold the known region at this step's noise level
            x = mask * (acp[t.long()].sqrt() * known + (1 - acp[t.long()]).sqrt() * noise) + (1 - mask) * x
        x_in = sched.scale_model_input(torch.cat([x, x]) if use_cfg else x, t)
        out = model(x_in, t, both)  # (B or 2B, 8, Tl, 32)
        if use_cfg:
            out_c, out_u = out.chunk(2)
            out = out_u + guidance * (out_c - out_u)  # eq. (14)
        if callback is not None:
            denoised = denoised_from(out, x, acp[t.long()], model.cfg.prediction_type)
            callback({"i": i, "t": int(t), "x": x, "denoised": denoised})
        x = sched.step(out, t, x).prev_sample  # deterministic: DPM-Solver++ 2M / DDIM with eta 0
    if known is not None:
        x = mask * known + (1 - mask) * x
    return x


@torch.no_grad()
def decode_latents(vae, z: Tensor, scaling: Tensor | float) -> tuple[Tensor, Tensor]:
    """Scaled two-stem latents (B, 8, Tl, 32) -> (music log-mel, effects log-mel), each (B, 64, 4 Tl)."""
    z_music, z_sfx = split_stems(z / float(scaling))
    return vae.decode(z_music), vae.decode(z_sfx)
