"""The sampler: classifier-free-guided DPM-Solver++ (2M) or DDIM over the two-stem latent.

A plain function with a per-step callback, as k-diffusion's samplers (and `Sampler`, the same
run resumable between steps, for SNIO at an intermediate step):

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
import torch.nn.functional as F
from torch import Tensor

from soundtrack.models.ldm import N_BINS, Conditions, SoundtrackLDM, split_stems

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


GRID_GUIDANCE = 5.0  # w_g of eq. (14b): how hard the sampler leans on the beat grid
GRID_UNTIL = 0.5  # eq. (14b) acts on the first half of the steps, where a clip's pulse is decided
HOLD_UNTIL = 0.5  # outpainting holds the overlap for the first half of the steps (snio.md eq. 12b)


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
    and the result keeps `known` exactly; the pipeline uses HOLD_UNTIL, eq. 12b).
    """

    def __init__(self, model: SoundtrackLDM, cond: Conditions, *, steps: int, noise: Tensor,
                 guidance: float = 3.0, scheduler: str = "dpm++", known: Tensor | None = None,
                 mask: Tensor | None = None, gridless: Conditions | None = None,
                 grid_guidance: float = 0.0, grid_until: float = GRID_UNTIL,
                 hold_until: float = 1.0) -> None:
        B, Tl = cond.batch_size, cond.frames
        if noise.shape[0] != B or noise.shape[2] != Tl:
            raise ValueError(f"conditions are for batch {B} x {Tl} frames, shape is {tuple(noise.shape)}")
        if known is not None:
            assert mask is not None and known.shape == mask.shape == noise.shape, f"{known.shape=} {noise.shape=}"
        self.model, self.guidance, self.grid_guidance = model, float(guidance), float(grid_guidance)
        self.noise, self.known, self.mask = noise, known, mask
        self.sched = make_scheduler(model, scheduler)
        self.sched.set_timesteps(steps, device=noise.device)
        self.timesteps = list(self.sched.timesteps)
        self.acp = self.sched.alphas_cumprod.to(noise.device)
        self.grid_steps = int(round(grid_until * steps)) if gridless is not None and grid_guidance else 0
        self.hold_steps = steps if hold_until >= 1.0 else int(round(hold_until * steps))
        parts = [cond] if self.guidance == 1.0 else [cond, model.null_conditions(batch=B, frames=Tl)]
        self.cond = cond
        self.plain = Conditions.cat(parts) if len(parts) > 1 else cond  # (cond[, ∅])
        self.with_grid = Conditions.cat([*parts, gridless]) if self.grid_steps else None  # (cond[, ∅], no grid)
        rest = [*parts[1:], gridless]  # the branches after cond, for cond_grad (guided())
        self.plain_rest = Conditions.cat(rest[:-1]) if len(parts) > 1 else None
        self.with_grid_rest = Conditions.cat(rest) if self.grid_steps else None
        self._memo: tuple[tuple[int, bool], Tensor, Tensor] | None = None  # ((t, grid on), x, output)

    @property
    def steps(self) -> int:
        return len(self.timesteps)

    def alpha(self, t: Tensor | int) -> Tensor:
        return self.acp[int(t)]

    def start(self) -> Tensor:
        """x at step 0: the starting noise scaled to the scheduler's first sigma."""
        return self.noise * self.sched.init_noise_sigma

    def guided(self, x: Tensor, t: Tensor, *, grid: bool, cond_grad: bool = False) -> Tensor:
        """The guided model output at x_t (eqs. 14, 14b); differentiable in x.

        cond_grad: under autograd, the gradient runs through the conditional branch only
        (snio.md eq. 9b): the value is the guided output, its Jacobian is taken as the
        conditional branch's, whose coefficients in eqs. 14/14b sum to one. The other
        branches run without autograd, so the backward pass is one branch instead of all.
        Without autograd the last evaluation is remembered: SNIO's final scoring pass
        evaluates exactly the output the sampler's step k then needs (same latent, same t),
        and the step reuses it instead of running the UNet again.
        """
        both = self.with_grid if grid and self.with_grid is not None else self.plain
        key = (int(t), both is self.with_grid)
        if not torch.is_grad_enabled() and self._memo is not None and self._memo[0] == key \
                and torch.equal(self._memo[1], x):
            return self._memo[2]
        n = both.batch_size // x.shape[0]
        if cond_grad and n > 1 and torch.is_grad_enabled():
            eps_c = self.model(x, t, self.cond)
            with torch.no_grad():
                rest = self.with_grid_rest if both is self.with_grid else self.plain_rest
                outs = (eps_c.detach(), *self.model(torch.cat([x.detach()] * (n - 1)), t, rest).chunk(n - 1))
                delta = self._combine(outs, grid=both is self.with_grid) - outs[0]
            return eps_c + delta
        outs = self.model(torch.cat([x] * n) if n > 1 else x, t, both).chunk(n)
        out = self._combine(outs, grid=both is self.with_grid)
        self._memo = None if torch.is_grad_enabled() else (key, x.detach().clone(), out)
        return out

    def _combine(self, outs: tuple[Tensor, ...], *, grid: bool) -> Tensor:
        """Branch outputs (cond[, ∅][, no grid]) -> the guided output of eqs. (14), (14b)."""
        out = outs[1] + self.guidance * (outs[0] - outs[1]) if self.guidance != 1.0 else outs[0]
        if grid:  # eq. (14b), on the music stem's half of the latent only
            out = out + self.grid_guidance * F.pad((outs[0] - outs[-1])[..., :N_BINS], (0, N_BINS))
        return out

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


@torch.no_grad()
def decode_latents(vae, z: Tensor, scaling: Tensor | float) -> tuple[Tensor, Tensor]:
    """Scaled two-stem latents (B, 8, Tl, 32) -> (music log-mel, effects log-mel), each (B, 64, 4 Tl)."""
    z_music, z_sfx = split_stems(z / float(scaling))
    return vae.decode(z_music), vae.decode(z_sfx)
