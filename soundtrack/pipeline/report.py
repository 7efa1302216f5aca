"""A take's report.json: what was asked, what the models were, what every stage took and scored."""
from __future__ import annotations

import numpy as np

from soundtrack.audio.mix import Mix
from soundtrack.audio.onsets import effect_onsets, onset_scores
from soundtrack.config import AUDIO
from soundtrack.sampling.scores import mean_scores

NO_EVENTS_NOTE = ("No cuts, flashes or impacts were found in this video, so the effects have nothing to follow: "
                  "they are made audible to meet the balance, as hits on no event. For a music-only "
                  "soundtrack, move the balance to 0.")  # report["notes"] (docs/DECISIONS.md #31)


def loudness(mix: Mix) -> dict[str, float]:
    """report["loudness"] of a mix."""
    return {"mix_lufs": mix.mix_lufs, "mix_dbtp": mix.mix_dbtp, "music_lufs": mix.music_lufs,
            "sfx_lufs": mix.sfx_lufs}


def notes(*, has_events: bool, balance: float) -> list[str]:
    """report["notes"]: what a musician should know about this take."""
    return [NO_EVENTS_NOTE] if not has_events and balance > 0.0 else []


def effects_report(sfx16: np.ndarray, *, event_times: list[float], mode: str, placements: list) -> dict:
    """report["effects"]: how the effects follow the picture, measured on the delivered stem (T16,)
    at +-50 ms (audio/onsets.py): picture events with an effect (hits), without one (misses),
    effects on no picture event (false alarms); the recordings played."""
    f, _, _, hits, n_ref, n_est = onset_scores(event_times, effect_onsets(np.asarray(sfx16, np.float32),
                                                                          AUDIO.sample_rate))
    out = {"mode": mode, "picture_events": n_ref, "effects": n_est, "hits": hits, "misses": n_ref - hits,
           "false_alarms": n_est - hits, "f1": f}
    if mode == "recorded":
        out["played"] = [{"time_s": round(p.time_s, 4), "recording": p.recording, "snapped": p.snapped}
                         for p in placements]
    return out


def scores_summary(windows: list[dict]) -> dict[str, dict[str, float]]:
    """report["scores"]: SNIO's surrogate before and after, and the sampled output, mean over windows."""
    return {"before_snio": mean_scores([w["snio_surrogate"]["before"] for w in windows]),
            "after_snio": mean_scores([w["snio_surrogate"]["after"] for w in windows]),
            "output": mean_scores([w["output"] for w in windows])}


__all__ = ["NO_EVENTS_NOTE", "effects_report", "loudness", "notes", "scores_summary"]
