"""FAD against the two guidance weights of the sampler (docs/method/sdma.md eqs. 14, 14b),
and against the number of sampler steps.

    python scripts/guidance_fad_sweep.py --n 30 --pairs 3,5 2,5 3,2.5 2,2.5 4,5
    python scripts/guidance_fad_sweep.py --n 30 --pairs 3,5,10 3,5,20 3,5,40

For each (CFG scale w, grid guidance w_g[, sampler steps, default the studio's 10]) setting,
samples the first n test clips without SNIO (the evaluation's `no_snio` settings and seeds)
and prints one JSON line: FAD of the music
and effects stems against the real stems of the same clips with the CVSM embedding and the
stats embedding (as `python -m soundtrack evaluate` computes them), effects sync F1 at
±50 ms and librosa tempo accuracy. The shipped pair is w = 3, w_g = 5.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from soundtrack.audio.embeddings import frechet_distance
    from soundtrack.audio.mel import MelSpectrogram
    from soundtrack.config import AUDIO
    from soundtrack.data.cache import load_split
    from soundtrack.evaluate import STEMS, _read_stem, sample_items, stem_embeddings, sync_and_tempo
    from soundtrack.pipeline import SoundtrackPipeline, checkpoint_root

    p = argparse.ArgumentParser(prog="python scripts/guidance_fad_sweep.py")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--pairs", nargs="+", default=["3,5", "2,5", "3,2.5", "2,2.5", "4,5"],
                   help="w,w_g or w,w_g,steps settings")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    arrays = load_split(args.corpus, "test", progress=False)
    n = min(args.n, len(arrays))
    items, labels = [args.corpus / "test" / name for name in arrays.names[:n]], arrays.labels[:n]
    mel_fn = MelSpectrogram(AUDIO)
    real = None
    for pair in args.pairs:
        w, w_g, *rest = (float(v) for v in pair.split(","))
        steps = {"steps": int(rest[0])} if rest else {}
        pipe = SoundtrackPipeline.bundled(checkpoint_root(None), grid_guidance=w_g)
        if real is None:
            real_waves = {s: np.stack([_read_stem(item, s) for item in items]) for s in STEMS}
            real = stem_embeddings(real_waves, cvsm=pipe.models.cvsm, mel_fn=mel_fn)
        waves = sample_items(pipe, items, labels, seed=args.seed, guidance=w, snio_iters=0, **steps)
        emb = stem_embeddings(waves, cvsm=pipe.models.cvsm, mel_fn=mel_fn)
        out = {"guidance": w, "grid_guidance": w_g, **steps, "n": n}
        for s in STEMS:
            out[f"fad_cvsm_{s}"] = frechet_distance(emb["cvsm"][s], real["cvsm"][s])
            out[f"fad_stats_{s}"] = frechet_distance(emb["stats"][s], real["stats"][s])
        metrics = sync_and_tempo(waves, labels)
        out["sync_f1"], out["tempo_acc1"] = metrics["sync_f1"], metrics["tempo_acc1"]
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
