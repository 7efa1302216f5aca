"""A take's notes under other controls (music/restage.py): the studio's sketch of a change."""
from __future__ import annotations

import numpy as np
import pytest

from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.restage import excerpt, grid_time, restage
from soundtrack.music.score import SCALES, pitch_degree
from tests.render.scores import band_score

BAND = {"piano": 1.0, "strings": 0.9, "bass": 0.8, "drums": 0.8}


def test_grid_time_inverts_positions() -> None:
    grid = BeatGrid(bpm=97.0, first_beat_s=0.31, downbeat=2)
    t = np.linspace(0.0, 9.0, 50)
    assert np.allclose(grid_time(grid, grid.positions(t)), t)


def test_a_new_tempo_keeps_every_note_on_its_beat_position() -> None:
    score = band_score(duration=10.0, bpm=120.0)
    slower = BeatGrid(bpm=60.0, first_beat_s=0.5, downbeat=1)
    out = restage(score, grid=slower, key=0, mode="major", weights=BAND, duration=20.0)
    for lane, notes in score.lanes.items():
        want = score.grid.positions(np.array([n.start for n in notes]))
        got = slower.positions(np.array([n.start for n in out.lanes[lane]]))
        t = grid_time(slower, want)
        kept = want[(t >= 0) & (t < 20.0)]
        assert np.allclose(got, kept), lane
    assert out.grid == slower and out.duration == 20.0


def test_a_shorter_take_drops_the_notes_past_its_end() -> None:
    out = restage(band_score(duration=10.0), grid=BeatGrid(bpm=60.0, first_beat_s=0.0), key=0,
                  mode="major", weights=BAND, duration=10.0)
    notes = [n for p in out.parts for n in p.notes]
    assert notes and max(n.start for n in notes) < 10.0 and max(n.end for n in notes) <= 10.0


@pytest.mark.parametrize(("key", "mode"), [(2, "major"), (9, "minor"), (0, "minor")])
def test_a_new_key_or_mode_keeps_each_notes_scale_degree(key: int, mode: str) -> None:
    score = band_score()
    out = restage(score, grid=score.grid, key=key, mode=mode, weights=BAND, duration=score.duration)
    for lane in ("chords", "melody", "bass"):
        old = [pitch_degree(lane, n.pitch, key=0, mode="major") for n in score.lanes[lane]]
        new = [pitch_degree(lane, n.pitch, key=key, mode=mode) for n in out.lanes[lane]]
        assert old == new, lane
        assert all((n.pitch - key) % 12 in SCALES[mode] for n in out.lanes[lane]), lane
    assert [n.pitch for n in out.lanes["drums"]] == [n.pitch for n in score.lanes["drums"]]


def test_the_new_weights_choose_who_plays() -> None:
    score = band_score()
    out = restage(score, grid=score.grid, key=0, mode="major", weights={"brass": 1.0, "drums": 0.5},
                  duration=score.duration)
    assert out.families == ["brass", "drums"]
    assert out.part("brass").notes and not out.part("piano")


def test_an_excerpt_plays_its_stretch_in_its_own_time() -> None:
    score = band_score(duration=10.0)
    part = excerpt(score, start_s=4.0, seconds=3.0)
    assert part.duration == 3.0
    for whole, cut in zip(score.parts, part.parts):
        want = [n.start - 4.0 for n in whole.notes if 4.0 <= n.start < 7.0]
        assert [n.start for n in cut.notes] == pytest.approx(want)
        assert all(0.0 <= n.start < n.end <= 3.0 + 1e-9 for n in cut.notes)
    assert part.grid.positions(np.array([0.0]))[0] == pytest.approx(score.grid.positions(np.array([4.0]))[0])
