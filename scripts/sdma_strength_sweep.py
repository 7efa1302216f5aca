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
    from soundtrack.audio.embeddings import stats_embedding
    from soundtrack.data.cache import load_split
    from soundtrack.evaluate import (fit_stem_classifier, sample_items, stem_leakage, sync_and_tempo,
                                     train_stats_embeddings)
    from soundtrack.pipeline import SoundtrackPipeline, checkpoint_root

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
    items, labels = [args.corpus / "test" / name for name in arrays.names[:n]], arrays.labels[:n]
    stats = train_stats_embeddings(args.corpus, progress=False)
    clf = fit_stem_classifier(stats["music"], stats["sfx"])
    for gamma, lam in itertools.product(args.gamma, args.lam):
        ctrl.params = dataclasses.replace(trained, gamma=gamma, lam=lam)
        waves = sample_items(pipe, items, labels, seed=args.seed, snio_iters=0)
        emb = {s: np.stack([stats_embedding(w) for w in waves[s]]) for s in ("music", "sfx")}
        leak = stem_leakage(clf, emb)
        metrics = sync_and_tempo(waves, labels)
        print(json.dumps({"gamma": gamma, "lam": lam, "n": n,
                          "leak_music": float(np.mean(leak["music"])),
                          "leak_sfx": float(np.mean(leak["sfx"])),
                          "sync_f1": metrics["sync_f1"], "tempo_acc1": metrics["tempo_acc1"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
