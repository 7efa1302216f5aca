"""Small scores built by hand for the render tests (and the timing quoted in instruments.py)."""
from __future__ import annotations

from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import Part, Score, ScoreNote, orchestrate, score_from_lanes


def band_score(*, duration: float = 10.0, bpm: float = 120.0, first_beat_s: float = 0.0,
               downbeat: int = 0) -> Score:
    """Piano chords, strings melody, bass and drums on a steady grid: 4 parts, 150 notes in 10 s.

    Chords: a triad every 2 beats; melody: eighths; bass: quarters; drums: kick or snare on the
    beats and a closed hat on every eighth.
    """
    grid = BeatGrid(bpm=bpm, first_beat_s=first_beat_s, downbeat=downbeat)
    beat = grid.period_s
    beats = [first_beat_s + k * beat for k in range(int((duration - first_beat_s) / beat))]
    eighths = [t + h * beat / 2 for t in beats for h in (0, 1)]
    scale = (0, 2, 4, 5, 7, 9, 11, 12)
    lanes = {
        "chords": [ScoreNote(t, t + 2 * beat, 48 + p, 78) for t in beats[::2] for p in (7, 12, 16)],
        "melody": [ScoreNote(t, t + beat / 2, 72 + scale[i % 8], 96) for i, t in enumerate(eighths)],
        "bass": [ScoreNote(t, t + beat, 36 + (5 if (i // 4) % 2 else 0), 92) for i, t in enumerate(beats)],
        "drums": sorted([ScoreNote(t, t + 0.1, 36 if i % 2 == 0 else 38, 100) for i, t in enumerate(beats)]
                        + [ScoreNote(t, t + 0.1, 42, 70) for t in eighths], key=lambda n: (n.start, n.pitch)),
    }
    orchestration = orchestrate({"piano": 1.0, "strings": 0.9, "bass": 0.8, "drums": 0.8})
    return score_from_lanes(lanes, orchestration, grid=grid, key=0, mode="major", duration=duration)


def one_part(family: str, *, program: int, notes: list[ScoreNote], gain: float = 1.0,
             duration: float = 3.0, role: str = "melody") -> Score:
    """A score of one part."""
    return Score(grid=BeatGrid(bpm=120.0, first_beat_s=0.0), key=0, mode="major", duration=duration,
                 parts=[Part(family, role, program, notes, gain=gain)])
