"""Does SNIO's tempo score hear what the evaluation's judge (librosa) hears?

    python -m scripts.tempo_score_agreement --corpus corpus --n 30

For the real music stems of the first n test clips: librosa's tempo estimate (as
`python -m soundtrack evaluate` measures it) and the argmax of SNIO's tempo posterior over
50-222 BPM (docs/method/snio.md eqs. 2-3) on the same audio's log-mel; prints each pair and
how many agree within +-4 %. One JSON object on stdout. (The Fourier-tempogram score this
replaced, commit e139590, agreed on 19 of 30.)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from soundtrack.audio.io import load_audio
    from soundtrack.audio.mel import log_mel
    from soundtrack.audio.tempo import tempo_correct, tempo_estimate
    from soundtrack.config import AUDIO
    from soundtrack.sampling.scores import onset_envelope, tempo_posterior

    p = argparse.ArgumentParser(prog="python -m scripts.tempo_score_agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--n", type=int, default=30)
    args = p.parse_args(argv)
    rows = []
    for item in sorted((args.corpus / "test").iterdir())[:args.n]:
        music = load_audio(item / "music.wav", sr=AUDIO.sample_rate)
        env = onset_envelope(log_mel(torch.from_numpy(np.ascontiguousarray(music)).float()[None]))
        with torch.no_grad():
            bpms, logp = tempo_posterior(env)
        score_bpm = round(float(bpms[logp[0].argmax()]), 1)
        librosa_bpm = tempo_estimate(music, AUDIO.sample_rate)
        labelled = json.loads((item / "labels.json").read_text())["tempo_bpm"]
        rows.append({"item": item.name, "labelled": labelled, "librosa": round(librosa_bpm, 1),
                     "score_argmax": score_bpm,
                     "agree": tempo_correct(score_bpm, librosa_bpm)[0]})
    print(json.dumps({"items": len(rows), "agree": sum(r["agree"] for r in rows), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
