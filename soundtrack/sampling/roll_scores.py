"""Differentiable scores of a note roll: what the score engine's SNIO climbs besides the effects'
(docs/method/score.md, eqs. S7-S9). Every score reads the clean roll estimate (B, 8, T, 16)
on the latent clock; higher is better.

- presence (S7): the lanes the orchestration gives a family sound for at least a share of
  the window, the lanes no requested family plays stay silent;
- density (S8): the music's note-onset density follows the picture's motion (Pearson
  correlation of the two, each smoothed over a second);
- accents (S9): notes start on the picture's events (the onset density at event frames
  against the window's mean, log ratio).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from soundtrack.config import TIMING

SHARPNESS = 4.0  # sigmoid(k r): a roll value's soft "on" (:func:`_on`)
PRESENCE_MIN = 0.25  # a wanted lane should sound in at least this share of the frames (S7)
SMOOTH_S = 1.0  # density and motion are smoothed over this many seconds (S8)
ACCENT_REACH = 1  # latent frames either side of an event that count as on it (S9)


def _on(x: Tensor) -> Tensor:
    """A roll value's soft "on" in [0, 1]: sigmoid(k x) rescaled so silence (-1) is 0 and a note (+1) is 1."""
    lo, hi = torch.sigmoid(torch.tensor(-SHARPNESS)), torch.sigmoid(torch.tensor(SHARPNESS))
    return ((torch.sigmoid(SHARPNESS * x) - lo) / (hi - lo)).clamp(0.0, 1.0)


def presence_score(roll: Tensor, wanted: Tensor) -> Tensor:
    """(B,) eq. S7: roll (B, 8, T, 16), wanted (B, 4) 1 for a lane a requested family plays.

    s = mean over lanes of  wanted: min(1, a_l / a_min),  unwanted: -a_l / a_min,
    a_l = the share of frames where lane l holds any note (soft max over its columns).
    """
    active = _on(roll[:, 1::2]).amax(-1).mean(-1)  # (B, 4)
    ratio = active / PRESENCE_MIN
    return torch.where(wanted > 0.5, ratio.clamp(max=1.0), -ratio).mean(-1)


def _smooth(x: Tensor) -> Tensor:
    """(B, T) -> (B, T) box average over SMOOTH_S."""
    k = max(1, int(round(SMOOTH_S * TIMING.latent_fps)) | 1)
    return F.avg_pool1d(x[:, None], k, stride=1, padding=k // 2, count_include_pad=False)[:, 0]


def onset_density(roll: Tensor) -> Tensor:
    """(B, T) soft count of note onsets per latent frame, over every lane and column."""
    return _on(roll[:, 0::2]).sum((1, 3))


def density_score(roll: Tensor, motion: Tensor) -> Tensor:
    """(B,) eq. S8: Pearson correlation of the smoothed onset density with the smoothed motion (T,)."""
    d = _smooth(onset_density(roll))
    m = _smooth(motion.to(roll).expand(roll.shape[0], -1))
    d, m = d - d.mean(-1, keepdim=True), m - m.mean(-1, keepdim=True)
    return (d * m).sum(-1) / (d.norm(dim=-1) * m.norm(dim=-1)).clamp_min(1e-6)


def accent_score(roll: Tensor, event_frames: Tensor) -> Tensor:
    """(B,) eq. S9: log of the onset density within ACCENT_REACH frames of the events over its mean."""
    d = onset_density(roll)  # (B, T)
    T = d.shape[-1]
    idx = (event_frames.long()[:, None] + torch.arange(-ACCENT_REACH, ACCENT_REACH + 1)).clamp(0, T - 1)
    at_events = d[:, idx.flatten()].mean(-1)
    return torch.log((at_events + 1e-3) / (d.mean(-1) + 1e-3))


def roll_scores(roll: Tensor, *, wanted: Tensor, motion: Tensor | None,
                event_frames: Tensor) -> dict[str, Tensor]:
    """The roll's scores by name (S7-S9); density needs the motion curve, accents an event."""
    out = {"presence": presence_score(roll, wanted)}
    if motion is not None and float(motion.std()) > 1e-6:
        out["density"] = density_score(roll, motion)
    if event_frames.numel():
        out["accents"] = accent_score(roll, event_frames)
    return out


__all__ = ["accent_score", "density_score", "onset_density", "presence_score", "roll_scores"]
