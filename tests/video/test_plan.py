"""Window planning over a whole video and the automatic tempo."""
from __future__ import annotations

import numpy as np
import pytest

from soundtrack.config import TIMING
from soundtrack.video.plan import VideoPlan, auto_tempo

WINDOW_FRAMES, OVERLAP_FRAMES, HOP_FRAMES = TIMING.window_frames, TIMING.overlap_frames, TIMING.hop_frames


def plan_of(n_frames: int) -> VideoPlan:
    return VideoPlan(path=None, duration_s=n_frames / 25, features=np.zeros((n_frames, 14), np.float32),
                     thumbs=np.zeros((n_frames, 3, 32, 32), np.uint8), onset=np.zeros(n_frames, np.float32),
                     events=())


@pytest.mark.parametrize("n_frames, windows", [(25, 1), (256, 1), (257, 2), (448, 2), (449, 3), (1500, 8)])
def test_windows_cover_the_video_with_overlap(n_frames, windows):
    ws = plan_of(n_frames).windows
    assert len(ws) == windows
    assert ws[-1].start_frame + WINDOW_FRAMES >= n_frames
    assert all(b.start_frame - a.start_frame == HOP_FRAMES for a, b in zip(ws, ws[1:]))
    assert WINDOW_FRAMES - HOP_FRAMES == OVERLAP_FRAMES


def test_window_inputs_are_padded_to_a_full_window():
    p = plan_of(300)
    p.features[:, 0] = np.arange(300)
    feats, thumbs = p.window_inputs(p.windows[1])
    assert feats.shape == (256, 14) and thumbs.shape == (256, 3, 32, 32)
    assert feats[0, 0] == HOP_FRAMES and feats[-1, 0] == 299  # the last frame is held


@pytest.mark.parametrize("bpm", [75.0, 100.0, 120.0, 150.0])
def test_auto_tempo_follows_a_regular_cut_rhythm(bpm):
    onset = np.zeros(25 * 20, np.float32)
    onset[np.round(np.arange(0, len(onset), 60 * 25 / bpm)).astype(int)] = 1.0
    got = auto_tempo(onset, fps=25)
    assert abs(got / bpm - 1) <= 0.04 or abs(got / (2 * bpm) - 1) <= 0.04 or abs(got / (bpm / 2) - 1) <= 0.04


def test_auto_tempo_without_rhythm_is_the_default():
    assert auto_tempo(np.zeros(500, np.float32), fps=25) == 100.0


def test_window_beats_continue_across_windows_and_follow_the_cuts():
    from soundtrack.video.features import VisualEvent

    n = 600
    onset = np.zeros(n, np.float32)
    onset[np.round(np.arange(10, n, 12.5)).astype(int)] = 1.0  # a pulse every beat at 120 BPM from 0.4 s
    cut = VisualEvent(0.4 + 0.5 * 2, "cut", 0.5, 1.0)  # on the third beat
    p = VideoPlan(path=None, duration_s=n / 25, features=np.zeros((n, 14), np.float32),
                  thumbs=np.zeros((n, 3, 32, 32), np.uint8), onset=onset, events=(cut,))
    grid = p.beat_grid(120.0)
    assert grid.first_beat_s == pytest.approx(0.4, abs=0.02) and grid.downbeat == 2
    w0, w1 = p.windows[:2]
    b0, b1 = p.window_beats(grid, w0), p.window_beats(grid, w1)
    assert b0.shape == (WINDOW_FRAMES,) and b0.dtype == np.float32
    np.testing.assert_allclose(b1[:OVERLAP_FRAMES], b0[HOP_FRAMES:], atol=1e-4)  # the overlap agrees
    np.testing.assert_allclose(np.diff(b0), 0.04 * 2.0, atol=1e-5)  # two beats a second
