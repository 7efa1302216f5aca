"""Check that a corpus's labels are true, with librosa and mir_eval as independent judges.

- tempo: librosa's global tempo estimate (`librosa.feature.tempo` on the onset envelope
  at hop 160) of music.wav against `tempo_bpm`. Accuracy-1 counts an estimate correct when
  within +-4% of the label; accuracy-2 also accepts half or double the label (an octave
  error). The bar is on accuracy-1; both are reported.
- effects: `librosa.onset.onset_detect` (hop 160, times) on sfx.wav against the labelled
  event times, F-measure at +-50 ms (`mir_eval.onset.f_measure`), per item and pooled.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TEMPO_TOLERANCE = 0.04
ONSET_WINDOW_S = 0.05
HOP = 160


def tempo_estimate(music: np.ndarray, sr: int) -> float:
    import librosa

    env = librosa.onset.onset_strength(y=music, sr=sr, hop_length=HOP)
    return float(librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=HOP)[0])


def tempo_correct(estimate: float, label: float) -> tuple[bool, bool]:
    """(accuracy-1, accuracy-2) verdicts for one estimate."""
    acc1 = abs(estimate / label - 1) <= TEMPO_TOLERANCE
    acc2 = acc1 or any(abs(estimate / (label * f) - 1) <= TEMPO_TOLERANCE for f in (0.5, 2.0))
    return acc1, acc2


def effect_onsets(sfx: np.ndarray, sr: int) -> np.ndarray:
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


def verify_item(item: Path) -> dict:
    import soundfile as sf

    labels = json.loads((item / "labels.json").read_text())
    music, sr = sf.read(item / "music.wav", dtype="float32")
    sfx, _ = sf.read(item / "sfx.wav", dtype="float32")
    est = tempo_estimate(music, sr)
    acc1, acc2 = tempo_correct(est, labels["tempo_bpm"])
    f, p, r, hits, n_ref, n_est = onset_scores([e["time"] for e in labels["events"]], effect_onsets(sfx, sr))
    return {"item": item.name, "tempo_label": labels["tempo_bpm"], "tempo_est": round(est, 2),
            "acc1": acc1, "acc2": acc2, "onset_f": round(f, 4), "hits": hits, "n_ref": n_ref, "n_est": n_est}


def verify_corpus(root: Path, *, n: int = 200, progress: bool = True) -> dict:
    """Verify the first `n` items (sorted by name across splits)."""
    from tqdm import tqdm

    items = sorted((p.parent for p in root.glob("*/*/labels.json")), key=lambda p: p.name)[:n]
    if not items:
        raise FileNotFoundError(f"no items under {root}")
    rows = [verify_item(it) for it in tqdm(items, unit="item", disable=not progress)]
    f, p, r = f_measure(*(sum(row[k] for row in rows) for k in ("hits", "n_ref", "n_est")))
    return {
        "items": len(rows),
        "tempo_acc1": round(float(np.mean([r["acc1"] for r in rows])), 4),
        "tempo_acc2": round(float(np.mean([r["acc2"] for r in rows])), 4),
        "onset_f_pooled": round(f, 4),
        "onset_precision": round(p, 4),
        "onset_recall": round(r, 4),
        "onset_f_item_mean": round(float(np.mean([r["onset_f"] for r in rows])), 4),
        "tempo_failures": [r for r in rows if not r["acc1"]],
    }
