"""The guided denoiser: classifier-free guidance and beat-grid guidance over the two-stem latent.

As k-diffusion's `CFGDenoiser` wraps a model for its plain samplers, :class:`GuidedDenoiser`
wraps the LDM and its conditions: one call is the guided model output at x_t
(docs/method/sdma.md eqs. 14, 14b), all branches in one UNet batch. The sampler
(soundtrack/sampling/sampler.py) steps with it; SNIO's surrogate differentiates through it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from soundtrack.models.ldm import N_BINS, Conditions, SoundtrackLDM


class GuidedDenoiser:
    """eps = eps(∅) + w (eps(c) - eps(∅)) + w_g (eps(c) - eps(c without the beat grid)).

    The grid term (eq. 14b) acts on the music stem's half of the latent, and only when called
    with grid=True and `gridless` conditions were given with a non-zero w_g (`has_grid`).
    guidance 1 evaluates only the conditional branch.
    """

    def __init__(self, model: SoundtrackLDM, cond: Conditions, *, guidance: float = 3.0,
                 gridless: Conditions | None = None, grid_guidance: float = 0.0) -> None:
        B, Tl = cond.batch_size, cond.frames
        self.model, self.guidance, self.grid_guidance = model, float(guidance), float(grid_guidance)
        self.has_grid = gridless is not None and bool(grid_guidance)
        parts = [cond] if self.guidance == 1.0 else [cond, model.null_conditions(batch=B, frames=Tl)]
        self.cond = cond
        self.plain = Conditions.cat(parts) if len(parts) > 1 else cond  # (cond[, ∅])
        self.with_grid = Conditions.cat([*parts, gridless]) if self.has_grid else None  # (cond[, ∅], no grid)
        rest = [*parts[1:], gridless]  # the branches after cond, for cond_grad (guided())
        self.plain_rest = Conditions.cat(rest[:-1]) if len(parts) > 1 else None
        self.with_grid_rest = Conditions.cat(rest) if self.has_grid else None
        self._memo: tuple[tuple[int, bool], Tensor, Tensor] | None = None  # ((t, grid on), x, output)

    def __call__(self, x: Tensor, t: Tensor, *, grid: bool, cond_grad: bool = False) -> Tensor:
        return self.guided(x, t, grid=grid, cond_grad=cond_grad)

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


__all__ = ["GuidedDenoiser"]
