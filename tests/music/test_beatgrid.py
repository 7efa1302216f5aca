"""The beat grid the LDM is conditioned on (docs/method/sdma.md eqs. 2d-2e)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from soundtrack.models.ldm import beat_features
from soundtrack.music.theory import BEATS_PER_BAR
from soundtrack.music.beatgrid import (BeatGrid, frame_times, grid_for_video,
                                        positions_from_beats)


def test_positions_from_labelled_beats():
    bpm, first = 136.4, 0.3678
    period = 60.0 / bpm
    beats = first + period * np.arange(23)
    downbeats = beats[3::4]  # the bar starts on the 4th labelled beat, as in corpus item 000000
    pos = positions_from_beats(beats, downbeats, beats, bpm=bpm)
    np.testing.assert_allclose(pos - np.round(pos), 0.0, atol=1e-9)  # integers on beats
    at_down = positions_from_beats(beats, downbeats, downbeats, bpm=bpm)
    np.testing.assert_allclose(at_down % BEATS_PER_BAR, 0.0, atol=1e-9)  # bar starts on multiples of 4
    times = frame_times(256)
    p = positions_from_beats(beats, downbeats, times, bpm=bpm)
    np.testing.assert_allclose(np.diff(p), 0.04 * bpm / 60.0, rtol=1e-6)  # steady, also before beat 0


def test_frame_times_are_latent_frame_centres():
    t = frame_times(256, start_s=7.68)
    assert t[0] == pytest.approx(7.68 + 0.015) and np.diff(t) == pytest.approx(np.full(255, 0.04))


def test_grid_for_video_follows_the_pulse_and_the_cuts():
    fps, bpm, phase = 25.0, 120.0, 0.32
    t = np.arange(int(12 * fps)) / fps
    onset = np.exp(-0.5 * (((t - phase + 0.25) % 0.5 - 0.25) / 0.03) ** 2)  # a pulse on every beat
    cuts = phase + 0.5 * np.array([1, 5, 9, 13])  # on beat 1 of every bar
    grid = grid_for_video(onset, fps=fps, bpm=bpm, cuts_s=cuts)
    assert grid.first_beat_s == pytest.approx(phase, abs=0.02)
    np.testing.assert_allclose(grid.positions(cuts) % BEATS_PER_BAR, 0.0, atol=0.1)
    beats = grid.beats_between(0.0, 3.0)
    np.testing.assert_allclose(beats, phase + 0.5 * np.arange(6), atol=0.02)
    # no rhythm in the picture: a grid still, starting at 0 s
    flat = grid_for_video(np.zeros(100), fps=fps, bpm=90.0)
    assert flat == BeatGrid(bpm=90.0, first_beat_s=0.0, downbeat=0)


def test_beat_features_repeat_every_bar():
    p = torch.linspace(-3, 9, 50)
    f = beat_features(p)
    assert f.shape == (50, 6)
    torch.testing.assert_close(f, beat_features(p + BEATS_PER_BAR), atol=1e-5, rtol=0)
    assert not torch.allclose(f, beat_features(p + 1), atol=1e-3)  # but the bar position differs


def test_the_steady_grid_of_labels_matches_their_positions():
    bpm = 136.4
    beats = 0.3678 + 60.0 / bpm * np.arange(23)
    labels = {"tempo_bpm": bpm, "beats": list(beats), "downbeats": list(beats[3::4])}
    times = frame_times(256)
    np.testing.assert_allclose(BeatGrid.from_labels(labels).positions(times),
                               positions_from_beats(beats, beats[3::4], times, bpm=bpm), atol=1e-6)
