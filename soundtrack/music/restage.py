"""A take's notes under other controls, without the model: the studio's sketch of a change.

When the musician moves the tempo, the key or mode, or the instrumentation of a score-engine
take, the model needs seconds to write the new take; the notes it wrote last time can be heard
under the new controls at once (issue 18: a change audible in under 2 s on a long video). Each
lane note keeps its place in the music, not in seconds:

    beat position   p = grid_old.positions(t)            ->  t' = grid_new.time(p)
    scale degree    d = pitch_degree(lane, pitch, old)   ->  pitch' = degree_pitch(lane, d, new)

and the lanes are played by the families the new weights choose (score.orchestrate). Drums keep
their kit pieces. The take the model then writes replaces the sketch.

numpy only, like the rest of soundtrack/music/.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import (LANES, Score, ScoreNote, degree_pitch, orchestrate, pitch_degree,
                                    score_from_lanes)


def grid_time(grid: BeatGrid, positions: np.ndarray) -> np.ndarray:
    """Seconds of beat positions on `grid`: the inverse of BeatGrid.positions."""
    return grid.first_beat_s + (np.asarray(positions, np.float64) + grid.downbeat) * grid.period_s


def lanes_of(score: Score) -> dict[str, list[ScoreNote]]:
    """The score's lane notes (a score built by score_from_lanes keeps them; otherwise each part's
    notes stand for its role's lane)."""
    if score.lanes:
        return score.lanes
    out: dict[str, list[ScoreNote]] = {}
    for p in score.parts:
        out.setdefault(p.role, list(p.notes))
    return out


def restage(score: Score, *, grid: BeatGrid, key: int, mode: str, weights: dict[str, float],
            duration: float) -> Score:
    """The score's notes at the beat positions of `grid`, on the same scale degrees of `key` and
    `mode`, played by the families `weights` choose; notes that now start after `duration` drop
    out and the last ones end by it."""
    moved: dict[str, list[ScoreNote]] = {}
    for lane in LANES:
        notes = lanes_of(score).get(lane, [])
        if not notes:
            continue
        starts = grid_time(grid, score.grid.positions(np.array([n.start for n in notes])))
        ends = grid_time(grid, score.grid.positions(np.array([n.end for n in notes])))
        out = []
        for n, t0, t1 in zip(notes, starts, ends):
            if t0 < 0 or t0 >= duration:
                continue
            pitch = n.pitch if lane == "drums" else degree_pitch(
                lane, pitch_degree(lane, n.pitch, key=score.key, mode=score.mode), key=key, mode=mode)
            out.append(ScoreNote(float(t0), float(min(t1, duration)), pitch, n.velocity))
        moved[lane] = out
    return score_from_lanes(moved, orchestrate(weights), grid=grid, key=key, mode=mode, duration=duration)


def excerpt(score: Score, *, start_s: float, seconds: float) -> Score:
    """The notes of `score` that start in [start_s, start_s + seconds), in the excerpt's own time
    (0 at start_s) and ending by its end: what a preview of that stretch plays."""
    end = start_s + seconds

    def cut(notes: list[ScoreNote]) -> list[ScoreNote]:
        return [ScoreNote(n.start - start_s, min(n.end, end) - start_s, n.pitch, n.velocity)
                for n in notes if start_s <= n.start < end]

    parts = [dataclasses.replace(p, notes=cut(p.notes)) for p in score.parts]
    grid = dataclasses.replace(score.grid, first_beat_s=score.grid.first_beat_s - start_s)
    return dataclasses.replace(score, grid=grid, duration=seconds, parts=parts,
                               lanes={lane: cut(notes) for lane, notes in score.lanes.items()})


__all__ = ["excerpt", "grid_time", "lanes_of", "restage"]
