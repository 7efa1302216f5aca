"""The one tempo and beat measurement of the project: librosa on the music stem.

The corpus check, the evaluation, the controls table and every take's report measure tempo
here, so their numbers are comparable. Accuracy-1 counts an estimate correct within ±4 % of
the label; accuracy-2 also accepts half or double the label (an octave error).
"""
from __future__ import annotations

import numpy as np

from soundtrack.config import AUDIO

TEMPO_TOLERANCE = 0.04
HOP = AUDIO.hop_length  # 160: 10 ms at 16 kHz, the onset envelope's hop


def tempo_estimate(music: np.ndarray, sr: int) -> float:
    """librosa's global tempo (`librosa.feature.tempo` on the onset envelope at hop 160), BPM."""
    import librosa

    env = librosa.onset.onset_strength(y=music, sr=sr, hop_length=HOP)
    return float(librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=HOP)[0])


def tempo_correct(estimate: float, label: float) -> tuple[bool, bool]:
    """(accuracy-1, accuracy-2) verdicts for one estimate."""
    acc1 = abs(estimate / label - 1) <= TEMPO_TOLERANCE
    acc2 = acc1 or any(abs(estimate / (label * f) - 1) <= TEMPO_TOLERANCE for f in (0.5, 2.0))
    return acc1, acc2


def measure_tempo(music16: np.ndarray, sr: int = AUDIO.sample_rate) -> tuple[float, np.ndarray]:
    """librosa's tempo estimate and beat times (seconds) on the music stem; (0, []) for silence."""
    import librosa

    y = np.asarray(music16, np.float32)
    if not np.any(y):
        return 0.0, np.zeros(0)
    _, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=HOP, units="time")
    return tempo_estimate(y, sr), np.asarray(beats, np.float64)


__all__ = ["TEMPO_TOLERANCE", "measure_tempo", "tempo_correct", "tempo_estimate"]
