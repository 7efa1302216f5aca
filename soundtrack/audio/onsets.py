"""Effect onsets and how well they match events: librosa's onset detector and mir_eval's ±50 ms
F-measure, the sync measure of the corpus check, the evaluation and the controls table."""
from __future__ import annotations

import numpy as np

from soundtrack.config import AUDIO

ONSET_WINDOW_S = 0.05
HOP = AUDIO.hop_length


def effect_onsets(sfx: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (seconds) librosa finds in an effects stem (hop 160)."""
    import librosa

    return librosa.onset.onset_detect(y=sfx, sr=sr, hop_length=HOP, units="time")


def onset_scores(ref: np.ndarray, est: np.ndarray) -> tuple[float, float, float, int, int, int]:
    """(F, precision, recall, hits, n_ref, n_est) at +-50 ms."""
    import mir_eval

    ref, est = np.sort(np.asarray(ref, float)), np.sort(np.asarray(est, float))
    if len(ref) == 0 and len(est) == 0:
        return 1.0, 1.0, 1.0, 0, 0, 0
    hits = len(mir_eval.util.match_events(ref, est, ONSET_WINDOW_S)) if len(ref) and len(est) else 0
    f, p, r = f_measure(hits, len(ref), len(est))
    return f, p, r, hits, len(ref), len(est)


def f_measure(hits: int, n_ref: int, n_est: int) -> tuple[float, float, float]:
    """(F, precision, recall) of `hits` matches between n_ref references and n_est estimates;
    a rate with nothing to divide is 0. Summed counts give the pooled F of several items."""
    p, r = hits / max(n_est, 1), hits / max(n_ref, 1)
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


__all__ = ["ONSET_WINDOW_S", "effect_onsets", "f_measure", "onset_scores"]
