"""Check that a corpus's labels are true, with librosa and mir_eval as independent judges
(the measurements live in soundtrack/audio/tempo.py and soundtrack/audio/onsets.py).

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

from soundtrack.audio.onsets import effect_onsets, f_measure, onset_scores
from soundtrack.audio.tempo import tempo_correct, tempo_estimate


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
