"""FAD against the two guidance weights of the sampler (docs/method/sdma.md eqs. 14, 14b).

    python scripts/guidance_fad_sweep.py --n 30 --pairs 3,5 2,5 3,2.5 2,2.5 4,5

For each (CFG scale w, grid guidance w_g) pair, samples the first n test clips without SNIO
(the evaluation's `no_snio` settings and seeds) and prints one JSON line: FAD of the music
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
    from soundtrack.audio.embeddings import frechet_distance, stats_embedding
    from soundtrack.audio.mel import MelSpectrogram
    from soundtrack.config import AUDIO
    from soundtrack.data.cache import load_split
    from soundtrack.data.verify import effect_onsets, onset_scores, tempo_correct, tempo_estimate
    from soundtrack.evaluate import STEMS, _cvsm_audio, _read_stem
    from soundtrack.pipeline import Settings, SoundtrackPipeline, checkpoint_root

    p = argparse.ArgumentParser(prog="python scripts/guidance_fad_sweep.py")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--pairs", nargs="+", default=["3,5", "2,5", "3,2.5", "2,2.5", "4,5"],
                   help="w,w_g pairs")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    arrays = load_split(args.corpus, "test", progress=False)
    n = min(args.n, len(arrays))
    items = [args.corpus / "test" / name for name in arrays.names[:n]]
    mel_fn = MelSpectrogram(AUDIO)
    sr = AUDIO.sample_rate
    for pair in args.pairs:
        w, w_g = (float(v) for v in pair.split(","))
        pipe = SoundtrackPipeline.bundled(checkpoint_root(None), grid_guidance=w_g)
        if pair == args.pairs[0]:
            real_waves = {s: np.stack([_read_stem(item, s) for item in items]) for s in STEMS}
            real = {"stats": {s: np.stack([stats_embedding(x, sr) for x in real_waves[s]]) for s in STEMS},
                    "cvsm": {s: _cvsm_audio(pipe.models.cvsm, mel_fn, real_waves[s], stem=s).numpy()
                             for s in STEMS}}
        waves = {s: [] for s in STEMS}
        hits = refs = ests = tempo_ok = 0
        for i, item in enumerate(items):
            lab = arrays.labels[i]
            settings = Settings(tempo=lab["tempo_bpm"], instruments={f: 1.0 for f in lab["instruments"]},
                                key=lab["key"], mode=lab["mode"],
                                intensity=min(1.0, max(0.6, lab["intensity"])), seed=args.seed + i,
                                guidance=w, snio_iters=0)
            take = pipe(item / "video.mp4", settings)
            waves["music"].append(take.music16)
            waves["sfx"].append(take.sfx16)
            events = [ev["time"] for ev in lab["events"]]
            _, _, _, h, r, e = onset_scores(events, effect_onsets(take.sfx16, sr))
            hits, refs, ests = hits + h, refs + r, ests + e
            tempo_ok += tempo_correct(tempo_estimate(take.music16, sr), lab["tempo_bpm"])[0]
        out = {"guidance": w, "grid_guidance": w_g, "n": n}
        for s in STEMS:
            x = np.stack(waves[s]).astype(np.float32)
            out[f"fad_cvsm_{s}"] = frechet_distance(_cvsm_audio(pipe.models.cvsm, mel_fn, x, stem=s).numpy(),
                                                    real["cvsm"][s])
            out[f"fad_stats_{s}"] = frechet_distance(np.stack([stats_embedding(v, sr) for v in x]),
                                                     real["stats"][s])
        prec, rec = hits / max(ests, 1), hits / max(refs, 1)
        out["sync_f1"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out["tempo_acc1"] = tempo_ok / n
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
