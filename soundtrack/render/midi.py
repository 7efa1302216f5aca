"""A Score as a Standard MIDI File (`music.mid`) for a DAW: the same notes the render plays.

Type 1: a conductor track (tempo, 4/4, key signature, a "video start" text event) and one
track per Part, named after its family, on its GM program (the drum part is a drum track on
channel 10) with a volume controller (CC7) at the part's gain and its notes' velocities.

The grid is steady, so there is one tempo event, at score.grid.bpm. MIDI bars start at tick 0,
so the file starts `offset` seconds before the video (:func:`midi_offset`, less than a bar)
for its bar lines to fall on the grid's downbeats: a note at t seconds of the video sits at
t + offset seconds of the file, and the "video start" event marks t = 0. The resolution (ticks
per beat) keeps a tick under 1 ms, so times round-trip within 0.5 ms.
"""
from __future__ import annotations

import math
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import Score
from soundtrack.music.theory import BEATS_PER_BAR

if TYPE_CHECKING:
    import pretty_midi

RESOLUTION = 960  # ticks per beat, doubled for slow tempos until a tick is under 1 ms
VIDEO_START = "video start"  # the text event at the video's t = 0


def midi_offset(grid: BeatGrid) -> float:
    """Seconds of the file before the video's t = 0: the bar containing 0 s starts the file,
    so every downbeat of the grid falls on a MIDI bar line. 0 when a downbeat is at 0 s."""
    bar = BEATS_PER_BAR * grid.period_s
    first_downbeat = grid.first_beat_s + grid.downbeat * grid.period_s
    offset = (-first_downbeat) % bar
    return 0.0 if math.isclose(offset, bar, abs_tol=1e-9) or offset < 1e-9 else offset


def resolution(bpm: float) -> int:
    """Ticks per beat: RESOLUTION, doubled until a tick lasts at most 1 ms."""
    ticks = RESOLUTION
    while 60.0 / (bpm * ticks) > 1e-3:
        ticks *= 2
    assert ticks < 2 ** 15, f"MIDI divisions are 15 bits: {bpm=}"
    return ticks


def _volume(gain: float) -> int:
    """CC7 for a linear gain: GM's volume curve is amplitude = (cc / 127)^2 (40 log10 dB)."""
    return int(np.clip(round(127 * math.sqrt(max(gain, 0.0))), 0, 127))


def score_to_midi(score: Score) -> pretty_midi.PrettyMIDI:
    """The score as a pretty_midi.PrettyMIDI (see the module docstring for its layout)."""
    import pretty_midi

    bpm = score.grid.bpm
    offset = midi_offset(score.grid)
    pm = pretty_midi.PrettyMIDI(resolution=resolution(bpm), initial_tempo=bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(BEATS_PER_BAR, 4, 0.0))
    minor = 12 if score.mode == "minor" else 0  # pretty_midi: 0-11 major, 12-23 minor keys
    pm.key_signature_changes.append(pretty_midi.KeySignature(score.key % 12 + minor, 0.0))
    pm.text_events.append(pretty_midi.Text(VIDEO_START, offset))
    for part in score.parts:
        track = pretty_midi.Instrument(program=max(part.program, 0), is_drum=part.is_drums,
                                       name=part.family)
        track.control_changes.append(pretty_midi.ControlChange(7, _volume(part.gain), 0.0))
        track.notes = [pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start + offset,
                                        end=n.end + offset) for n in part.notes]
        pm.instruments.append(track)
    return pm


def write_midi(score: Score, path: str | os.PathLike) -> Path:
    """Write the score to `path` (a .mid file) atomically: a temporary file in the same folder,
    then os.replace. On any error nothing is left at `path` (an existing file stays as it was)."""
    path = Path(path)
    pm = score_to_midi(score)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")  # created with the umask's mode
    try:
        with open(tmp, "xb") as f:
            pm.write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
