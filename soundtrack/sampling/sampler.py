"""The sampler: classifier-free-guided DPM-Solver++ (2M) or DDIM over the two-stem latent.

A plain function with a per-step callback, as k-diffusion's samplers (and `Sampler`, the same
run resumable between steps, for SNIO at an intermediate step):

    cond = model.encode_conditions(video_tokens=..., instruments=..., ...)   # once
    z = sample(model, cond, shape=(1, 8, 256, 32), steps=25, guidance=3.0,
               generator=torch.Generator().manual_seed(0), callback=print_step)
    music_mel, sfx_mel = decode_stems(vae, z, model.latent_scale)   # soundtrack/sampling/decode.py

Classifier-free guidance (docs/method/sdma.md, eq. 14) evaluates the conditional and the
NULL condition in one UNet batch of 2B.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from soundtrack.config import SamplerConfig
from soundtrack.models.ldm import Conditions, SoundtrackLDM
from soundtrack.sampling.guidance import GuidedDenoiser

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


class Sampler:
    """One guided sampling run over fixed conditions, resumable between steps.

    `run(x, start, stop)` takes sampler steps [start, stop); calling it twice with the same
    Sampler continues the same scheduler (DPM-Solver++ keeps its history), so SNIO can
    optimise the latent between two calls (docs/method/snio.md §3). `guided(x, t)` is the
    differentiable guided model output the SNIO surrogate reuses.

    Guidance (docs/method/sdma.md eqs. 14, 14b): eps = eps(∅) + w (eps(c) - eps(∅)) +
    w_g (eps(c) - eps(c without the beat grid)), the grid term on the music stem's half of
    the latent and the first `grid_until` of the steps; all branches are one UNet batch.
    noise: the window's starting noise, which also noises the held region of `known`/`mask`
    (outpainting, snio.md eq. 12), held for the first `hold_until` of the steps (1: every step,
    and the result keeps `known` exactly; the pipeline uses SamplerConfig.hold_until, eq. 12b).
    """

    def __init__(self, model: SoundtrackLDM, cond: Conditions, *, steps: int, noise: Tensor,
                 guidance: float = 3.0, scheduler: str = "dpm++", known: Tensor | None = None,
                 mask: Tensor | None = None, gridless: Conditions | None = None,
                 grid_guidance: float = 0.0, grid_until: float = SamplerConfig.grid_until,
                 hold_until: float = 1.0) -> None:
        B, Tl = cond.batch_size, cond.frames
        if noise.shape[0] != B or noise.shape[2] != Tl:
            raise ValueError(f"conditions are for batch {B} x {Tl} frames, shape is {tuple(noise.shape)}")
        if known is not None:
            assert mask is not None and known.shape == mask.shape == noise.shape, f"{known.shape=} {noise.shape=}"
        self.model, self.noise, self.known, self.mask = model, noise, known, mask
        self.sched = make_scheduler(model, scheduler)
        self.sched.set_timesteps(steps, device=noise.device)
        self.timesteps = list(self.sched.timesteps)
        self.acp = self.sched.alphas_cumprod.to(noise.device)
        grid_steps = int(round(grid_until * steps)) if gridless is not None and grid_guidance else 0
        self.grid_steps = grid_steps
        self.hold_steps = steps if hold_until >= 1.0 else int(round(hold_until * steps))
        self.denoiser = GuidedDenoiser(model, cond, guidance=guidance,
                                       gridless=gridless if grid_steps else None,
                                       grid_guidance=grid_guidance if grid_steps else 0.0)

    def guided(self, x: Tensor, t: Tensor, *, grid: bool, cond_grad: bool = False) -> Tensor:
        """The guided model output at x_t (soundtrack/sampling/guidance.py); differentiable in x."""
        return self.denoiser(x, t, grid=grid, cond_grad=cond_grad)

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def alpha(self, t: Tensor | int) -> Tensor:
        return self.acp[int(t)]

    def start(self) -> Tensor:
        """x at step 0: the starting noise scaled to the scheduler's first sigma."""
        return self.noise * self.sched.init_noise_sigma

    def hold(self, x: Tensor, t: Tensor | int, step: int) -> Tensor:
        """Outpainting (snio.md eqs. 12, 12b): before one of the first `hold_steps` sampler steps,
        the known region at t's noise level, with the window's noise; x as it is otherwise."""
        if self.known is None or step >= self.hold_steps:
            return x
        a = self.alpha(t)
        return self.mask * (a.sqrt() * self.known + (1 - a).sqrt() * self.noise) + (1 - self.mask) * x

    def finish(self, x: Tensor) -> Tensor:
        """The clean latent, with the known region exactly as given when it was held at every step."""
        if self.known is None or self.hold_steps < self.steps:
            return x
        return self.mask * self.known + (1 - self.mask) * x

    def run(self, x: Tensor, start: int = 0, stop: int | None = None,
            callback: Callable[[dict], None] | None = None) -> Tensor:
        """Sampler steps [start, stop) from x (the latent before step `start`); the latent after them."""
        stop = self.steps if stop is None else stop
        for i in range(start, stop):
            t = self.timesteps[i]
            x = self.hold(x, t, i)
            out = self.guided(self.sched.scale_model_input(x, t), t, grid=i < self.grid_steps)
            if callback is not None:
                denoised = denoised_from(out, x, self.alpha(t), self.model.cfg.prediction_type)
                callback({"i": i, "t": int(t), "x": x, "denoised": denoised})
            x = self.sched.step(out, t, x).prev_sample  # deterministic: DPM-Solver++ 2M / DDIM with eta 0
        return self.finish(x) if stop == self.steps else x


def sample(model: SoundtrackLDM, cond: Conditions, *, shape: tuple[int, int, int, int], steps: int = 25,
           guidance: float = 3.0, scheduler: str = "dpm++", generator: torch.Generator | None = None,
           x_T: Tensor | None = None, callback: Callable[[dict], None] | None = None,
           known: Tensor | None = None, mask: Tensor | None = None, gridless: Conditions | None = None,
           grid_guidance: float = 0.0) -> Tensor:
    """Scaled latents (B, 8, Tl, 32) = concat(music, effects) drawn from the model given `cond`.

    guidance: CFG scale w (eq. 14); 1 evaluates only the conditional branch.
    x_T: starting noise (else drawn with `generator`); callback gets {"i", "t", "x", "denoised"} each step.
    known, mask (B, 8, Tl, 32): outpainting (docs/method/snio.md eq. 12): where mask is 1 the
    latent is held at `known` (noised to each step's level with x_T's own noise), so a window
    continues the previous one's overlap; mask 0 is generated.
    gridless, grid_guidance: `cond` without the beat grid and the weight w_g of eq. (14b); 0 = off.
    Runs with autograd as the caller has it: wrap in `torch.no_grad()` unless optimising through it.
    """
    device = cond.tokens.device
    if x_T is None:
        x_T = torch.randn(shape, generator=generator, device=generator.device if generator else device)
    assert x_T.shape == tuple(shape), f"{x_T.shape=} vs {shape=}"
    sampler = Sampler(model, cond, steps=steps, noise=x_T.to(device), guidance=guidance, scheduler=scheduler,
                      known=known, mask=mask, gridless=gridless, grid_guidance=grid_guidance)
    return sampler.run(sampler.start(), callback=callback)


__all__ = ["SCHEDULERS", "Sampler", "denoised_from", "make_scheduler", "sample"]
