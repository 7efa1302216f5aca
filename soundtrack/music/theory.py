"""Music theory the whole project shares: pitch names, scales, modes, the tempo range, the meter.

numpy-free and torch-free: the corpus composer, the controls and the models read these.
"""
from __future__ import annotations

PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLATS = {"DB": "C#", "EB": "D#", "GB": "F#", "AB": "G#", "BB": "A#"}  # flat spellings -> PITCH_NAMES
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
MODES = ("major", "minor")  # index = the LDM's mode id
TEMPO_RANGE = (60.0, 180.0)  # BPM: the corpus's range, and so the controls'
INTENSITY_RANGE = (0.6, 1.0)  # the composer's velocity scale
BEATS_PER_BAR = 4  # every corpus item is in 4/4 (docs/DATA.md)
DRUM_CHANNEL = 9  # General MIDI's percussion channel (0-based)


def pitch_name(name: str) -> str | None:
    """A spelled pitch ("d", "F#", "Bb", "G♭") as one of PITCH_NAMES, or None."""
    name = name.strip()
    name = name[:1].upper() + name[1:].lower().replace("♯", "#").replace("♭", "b")
    name = FLATS.get(name.upper(), name)
    return name if name in PITCH_NAMES else None
