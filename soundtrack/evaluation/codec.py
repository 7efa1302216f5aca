"""How much the audio codec loses: `python -m soundtrack.evaluation.codec --corpus DIR --vae RUN
--vocoder RUN`.

For `n` held-out items and each stem (music, sfx), three reconstructions of the true wave:

    (a) vae+vocoder:  wave -> log-mel -> VAE encode (mode) -> decode -> vocoder
    (b) vocoder:      wave -> log-mel -> vocoder
    (c) griffin_lim:  wave -> log-mel -> Griffin-Lim (the model-free reference)

all from the first 1024 mel frames (10.24 s, as the cache; a multiple of 4 for the VAE), so
each output has 1023 * 160 samples; the true wave is trimmed to match. Reports the mean
MR-STFT, LSD and MCD (soundtrack/audio/metrics.py) per stem and reconstruction.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from soundtrack.audio.mel import MelSpectrogram
from soundtrack.audio.metrics import (
    griffin_lim_from_mel,
    log_spectral_distance,
    mel_cepstral_distortion,
    mr_stft_distance,
)
from soundtrack.config import AUDIO, TIMING
from soundtrack.errors import InputError

EVAL_STEMS = ("music", "sfx")


def distances(ref: np.ndarray, est: np.ndarray) -> dict[str, float]:
    """The three codec distances of `est` against `ref` (mono, 16 kHz)."""
    return {
        "mr_stft": mr_stft_distance(ref, est, AUDIO.sample_rate),
        "lsd_db": log_spectral_distance(ref, est),
        "mcd_db": mel_cepstral_distortion(ref, est, AUDIO.sample_rate),
    }


def codec_report(*, corpus: Path, vae_run: Path, vocoder_run: Path, split: str = "test", n: int = 50,
                 griffin_lim_iters: int = 32) -> dict:
    """Mean distances `{stem: {reconstruction: {metric: value}}}` plus the item count."""
    import soundfile as sf

    from soundtrack.models.vae import load_vae
    from soundtrack.models.vocoder import load_vocoder

    # 1. Items and models
    items = sorted(p.parent for p in (corpus / split).glob("*/labels.json"))[:n]
    if not items:
        raise InputError(f"no items in {corpus / split}")
    vae, vocoder, mel_fn = load_vae(vae_run), load_vocoder(vocoder_run), MelSpectrogram(AUDIO)

    # 2. Reconstruct every stem three ways and score each against the true wave
    scores: dict[str, dict[str, list[dict[str, float]]]] = {
        stem: {"vae+vocoder": [], "vocoder": [], "griffin_lim": []} for stem in EVAL_STEMS
    }
    for item in items:
        for stem in EVAL_STEMS:
            wave, sr = sf.read(item / f"{stem}.wav", dtype="float32")
            assert sr == AUDIO.sample_rate and wave.ndim == 1, f"{item}/{stem}: {sr=} {wave.shape=}"
            with torch.inference_mode():
                mel = mel_fn(torch.from_numpy(wave))[:, :, :TIMING.mel_frames]  # (1, 64, 1024)
                via_vae = vocoder(vae.decode(vae.encode(mel)))[0].numpy()  # (1023 * 160,)
                direct = vocoder(mel)[0].numpy()
            gl = griffin_lim_from_mel(mel[0], n_iter=griffin_lim_iters)
            ref = wave[: len(direct)]
            for name, est in (("vae+vocoder", via_vae), ("vocoder", direct), ("griffin_lim", gl)):
                scores[stem][name].append(distances(ref, est))

    # 3. Means
    report: dict = {"split": split, "n_items": len(items)}
    for stem, by_method in scores.items():
        report[stem] = {
            method: {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
            for method, rows in by_method.items()
        }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soundtrack.evaluation.codec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--vae", type=Path, required=True,
                        help="VAE run folder (config.json + model.safetensors)")
    parser.add_argument("--vocoder", type=Path, required=True, help="vocoder run folder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=50, help="items to evaluate")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    try:
        report = codec_report(corpus=args.corpus, vae_run=args.vae, vocoder_run=args.vocoder,
                              split=args.split, n=args.n)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
