"""The score engine's roll scores (docs/method/score.md eqs. S7-S9): each rises with what it
measures, falls against it, and passes gradients to the roll."""
from __future__ import annotations

import torch

from soundtrack.sampling.roll_scores import accent_score, density_score, presence_score, roll_scores

T = 256


def empty() -> torch.Tensor:
    return -torch.ones(1, 8, T, 16)


def test_presence_wants_the_orchestrated_lanes_and_silence_elsewhere():
    roll = empty()
    roll[:, 1, :, 3] = 1.0  # the chords lane holds a note all along
    chords_only = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert presence_score(roll, chords_only).item() == 0.25  # 1 for chords, 0 for the three silent lanes
    assert presence_score(roll, torch.tensor([[0.0, 1.0, 0.0, 0.0]])).item() < -0.5  # chords unwanted
    assert presence_score(empty(), chords_only).item() < presence_score(roll, chords_only).item()


def test_density_follows_the_motion_and_accents_land_on_events():
    motion = torch.linspace(0, 1, T)
    follows, against = empty(), empty()
    for t in range(0, T, 2):
        if torch.rand(()) < t / T:
            follows[:, 0, t, 5] = 1.0
        if torch.rand(()) < 1 - t / T:
            against[:, 0, t, 5] = 1.0
    assert density_score(follows, motion).item() > 0.6 > -0.6 > density_score(against, motion).item()
    events = torch.tensor([40, 120, 200])
    on, off = empty(), empty()
    on[:, 6, events, 0] = 1.0  # kicks on the events
    off[:, 6, events + 12, 0] = 1.0
    assert accent_score(on, events).item() > 1.0 > 0.0 > accent_score(off, events).item()


def test_the_scores_pass_gradients_and_skip_what_they_cannot_measure():
    roll = (0.3 * torch.randn(1, 8, T, 16) - 0.8).requires_grad_(True)
    out = roll_scores(roll, wanted=torch.ones(1, 4), motion=torch.linspace(0, 1, T),
                      event_frames=torch.tensor([10, 100]))
    sum(out.values()).sum().backward()
    assert set(out) == {"presence", "density", "accents"} and roll.grad.abs().sum() > 0
    still = roll_scores(roll.detach(), wanted=torch.ones(1, 4), motion=torch.zeros(T),
                        event_frames=torch.tensor([], dtype=torch.long))
    assert set(still) == {"presence"}
