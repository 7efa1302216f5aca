"""SDMA's strength at inference: stem leakage and effects sync against the trained setting.

    python scripts/sdma_strength_sweep.py --n 20 --gamma 4 8 16 --lam 0.9

The bundled SDMA model was trained with gamma = 4 (cross-stem damping of self-attention)
and lambda = 0.9 (routing of condition tokens; docs/method/sdma.md eqs. 8-11). This samples
the first n test clips without SNIO (the evaluation's `no_snio` settings and seeds) with
each (gamma, lambda) set on the model's SDMA controller, and prints one JSON line per
setting: leakage (the evaluation's probe: P(effects | music stem), P(music | effects
stem)), effects sync F1 at ±50 ms, and librosa tempo accuracy.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from soundtrack.config import AUDIO
    from soundtrack.data.cache import load_split
    from soundtrack.data.verify import effect_onsets, onset_scores, tempo_correct, tempo_estimate
    from soundtrack.audio.embeddings import stats_embedding
    from soundtrack.evaluate import fit_stem_classifier, train_stats_embeddings
    from soundtrack.pipeline import Settings, SoundtrackPipeline, checkpoint_root

    p = argparse.ArgumentParser(prog="python scripts/sdma_strength_sweep.py")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--gamma", type=float, nargs="+", default=[4.0, 8.0, 16.0])
    p.add_argument("--lam", type=float, nargs="+", default=[0.9])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    pipe = SoundtrackPipeline.bundled(checkpoint_root(None))
    ctrl = pipe.models.ldm.controller
    trained = ctrl.params
    arrays = load_split(args.corpus, "test", progress=False)
    n = min(args.n, len(arrays))
    stats = train_stats_embeddings(args.corpus, progress=False)
    clf = fit_stem_classifier(stats["music"], stats["sfx"])
    sr = AUDIO.sample_rate
    for gamma, lam in itertools.product(args.gamma, args.lam):
        ctrl.params = dataclasses.replace(trained, gamma=gamma, lam=lam)
        music_emb, sfx_emb, hits, refs, ests, tempo_ok = [], [], 0, 0, 0, 0
        for i in range(n):
            lab = arrays.labels[i]
            settings = Settings(tempo=lab["tempo_bpm"], instruments={f: 1.0 for f in lab["instruments"]},
                                key=lab["key"], mode=lab["mode"],
                                intensity=min(1.0, max(0.6, lab["intensity"])),
                                seed=args.seed + i, snio_iters=0)
            take = pipe(args.corpus / "test" / arrays.names[i] / "video.mp4", settings)
            music_emb.append(stats_embedding(take.music16, sr))
            sfx_emb.append(stats_embedding(take.sfx16, sr))
            events = [ev["time"] for ev in lab["events"]]
            _, _, _, h, r, e = onset_scores(events, effect_onsets(take.sfx16, sr))
            hits, refs, ests = hits + h, refs + r, ests + e
            tempo_ok += tempo_correct(tempo_estimate(take.music16, sr), lab["tempo_bpm"])[0]
        prec, rec = hits / max(ests, 1), hits / max(refs, 1)
        print(json.dumps({"gamma": gamma, "lam": lam, "n": n,
                          "leak_music": float(np.mean(clf.p_effects(np.stack(music_emb)))),
                          "leak_sfx": float(np.mean(1.0 - clf.p_effects(np.stack(sfx_emb)))),
                          "sync_f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
                          "tempo_acc1": tempo_ok / n}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
