"""Per-item metrics of a set of stems: what `python -m soundtrack evaluate` reads in every row.

- FAD (soundtrack/audio/embeddings.py) of each stem against the real stems of the same
  items, with the training-free stats embedding and with the CVSM audio embedding;
- stem leakage (soundtrack/evaluation/leakage.py);
- effects sync: onset F1 at +-50 ms of `effect_onsets(sfx)` against the labelled event
  times, pooled over items (soundtrack/audio/onsets.py);
- tempo accuracy-1 (+-4 %) and accuracy-2 (octave errors allowed) of librosa's estimate on
  the music (soundtrack/audio/tempo.py);
- CVSM video-music and video-effects cosine similarity of the global embeddings;
- instrumentation by the independent instrument judge on the music: requested families
  detected, unrequested families detected, and the KL of its probabilities from the real
  music's;
- `balance_db`: |LUFS(effects) - LUFS(music)| of the raw stems;
- `beat_cut`: the share of the video's cuts with a music beat within +-70 ms;
- video-music correspondence, read on the music's audio as a listener hears it: `density_motion`
  (Pearson correlation of the music's onset strength with the picture's motion, both smoothed
  over 1 s), `cut_accent` (log of the music's onset strength at the cuts, +-70 ms, over its
  mean) and `cvsm_rr` (the reciprocal rank of the item's own video among the row's videos by
  CVSM cosine with its music; its mean is the MRR).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from soundtrack.config import AUDIO, TIMING
from soundtrack.evaluation.items import STEMS
from soundtrack.evaluation.leakage import StemClassifier, stem_leakage

BEAT_CUT_TOLERANCE_S = 0.07


def load_judge(root: Path | str | None = None, stage: str = "instruments-judge"):
    """An instrument judge of a model folder (default: the bundled one): `instruments-judge` (the
    corpus's two soundfonts) or `instruments-indep` (MuseScore + TimGM6mb, never the score
    engine's FluidR3); None where the folder has none."""
    from soundtrack.models.checkpoint import run_folder
    from soundtrack.models.instruments import load_instrument_judge

    folder = run_folder(stage, root)
    return load_instrument_judge(folder) if folder.is_dir() else None


def cvsm_audio_embeddings(cvsm, mel_fn, waves: np.ndarray, *, stem: str, chunk: int = 8) -> torch.Tensor:
    """(N, T) waves -> (N, D) CVSM audio embeddings of their first 1024 mel frames."""
    from soundtrack.audio.embeddings import cvsm_embedding

    out = []
    with torch.no_grad():
        for i in range(0, len(waves), chunk):
            wave = torch.from_numpy(waves[i:i + chunk]).float()
            mel = mel_fn(wave)[..., :TIMING.mel_frames]  # (b, 64, 1024)
            out.append(cvsm_embedding(cvsm, mel, stem=stem))
    return torch.cat(out)


def judge_probs(judge, mel_fn, waves: np.ndarray, *, chunk: int = 16) -> torch.Tensor:
    """(N, T) music waves -> (N, 10) the instrument judge's probabilities."""
    from soundtrack.models.instruments import instrument_probs

    with torch.no_grad():
        mels = torch.cat([mel_fn(torch.from_numpy(waves[i:i + chunk]).float())[..., :TIMING.mel_frames]
                          for i in range(0, len(waves), chunk)])  # (N, 64, 1024)
    return instrument_probs(judge, mels)


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-4) -> float:
    """Mean over items and families of KL(Bern(p) || Bern(q))."""
    p, q = p.clamp(eps, 1 - eps), q.clamp(eps, 1 - eps)
    return float((p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).mean())


def beat_cut(music: np.ndarray, cuts: list[float], sr: int) -> tuple[int, int]:
    """(cuts with a beat within +-70 ms, cuts) for one item."""
    import librosa

    if not cuts:
        return 0, 0
    _, beats = librosa.beat.beat_track(y=music, sr=sr, hop_length=AUDIO.hop_length, units="time")
    if len(beats) == 0:
        return 0, len(cuts)
    return sum(bool(np.min(np.abs(beats - c)) <= BEAT_CUT_TOLERANCE_S) for c in cuts), len(cuts)


def onset_envelope(music: np.ndarray, sr: int) -> np.ndarray:
    """(F,) librosa's onset strength of a music wave on the latent clock (TIMING.latent_fps)."""
    import librosa

    hop = int(round(sr / TIMING.latent_fps))
    return librosa.onset.onset_strength(y=np.asarray(music, np.float32), sr=sr, hop_length=hop)


def _smooth(x: np.ndarray, frames: int) -> np.ndarray:
    return np.convolve(x, np.ones(frames) / frames, mode="same")


def density_motion(env: np.ndarray, motion: np.ndarray) -> float | None:
    """Pearson correlation of the music's onset strength `env` (onset_envelope) with the picture's
    motion (both (F,) on the latent clock, smoothed over 1 s); None where either is flat."""
    n = min(len(env), len(motion))
    k = int(round(TIMING.latent_fps))
    a, b = _smooth(env[:n], k), _smooth(np.asarray(motion[:n], np.float64), k)
    if a.std() < 1e-9 or b.std() < 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def cut_accent(env: np.ndarray, cuts: list[float]) -> float | None:
    """log(mean over cuts of the music's strongest onset (`env`, onset_envelope) within +-70 ms / its
    mean); None without cuts or onsets. 0: cuts are no louder in the music than anywhere else."""
    if not cuts or env.mean() <= 1e-9:
        return None
    fps, reach = TIMING.latent_fps, int(np.ceil(BEAT_CUT_TOLERANCE_S * TIMING.latent_fps))
    at = [env[max(0, int(round(c * fps)) - reach):int(round(c * fps)) + reach + 1].max(initial=0.0)
          for c in cuts]
    return float(np.log(max(np.mean(at), 1e-9) / env.mean()))


def reciprocal_ranks(video_embed: torch.Tensor, music_embed: torch.Tensor) -> list[float]:
    """1 / rank of item i's own video among all n videos by cosine with its music embedding."""
    sims = music_embed @ video_embed.T  # (n, n) unit vectors
    own = sims.diagonal().unsqueeze(1)
    return (1.0 / (1 + (sims > own).sum(1)).float()).tolist()


def stem_embeddings(waves: dict[str, np.ndarray], *, cvsm, mel_fn) -> dict[str, dict[str, np.ndarray]]:
    """Both embeddings of both stems: {"stats"|"cvsm": {"music"|"sfx": (n, D)}} of `waves`
    {"music", "sfx"}: (n, T) at 16 kHz (the FAD inputs)."""
    return {"stats": stats_embeddings(waves),
            "cvsm": {s: cvsm_audio_embeddings(cvsm, mel_fn, waves[s], stem=s).numpy() for s in STEMS}}


def stats_embeddings(waves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stats embedding of both stems: {"music"|"sfx": (n, D)} of `waves` {"music", "sfx"}: (n, T)."""
    from soundtrack.audio.embeddings import stats_embedding

    return {s: np.stack([stats_embedding(w, AUDIO.sample_rate) for w in waves[s]]) for s in STEMS}


def pooled_f1(counts: np.ndarray) -> float:
    """F1 of (hits, references, estimates) rows (n, 3) summed over the rows."""
    from soundtrack.audio.onsets import f_measure

    return float(f_measure(*counts.sum(0))[0])


def sync_and_tempo(waves: dict[str, np.ndarray], labels: list[dict], *,
                   per_item: dict | None = None) -> dict[str, float]:
    """Effects onsets against the labelled events, F1 at ±50 ms pooled over items, and
    librosa's tempo accuracy (±4 %; acc2 also accepts half and double) on the music.
    per_item: a dict to receive the per-item counts ("sync": (hits, events, onsets) per
    item, "tempo_acc1": 0/1 per item), for soundtrack.evaluation.bootstrap.paired_differences."""
    from soundtrack.audio.onsets import effect_onsets, onset_scores
    from soundtrack.audio.tempo import tempo_correct, tempo_estimate

    sr = AUDIO.sample_rate
    counts, acc1, acc2 = [], [], []
    for wave_m, wave_s, lab in zip(waves["music"], waves["sfx"], labels):
        _, _, _, h, r, e = onset_scores([ev["time"] for ev in lab["events"]], effect_onsets(wave_s, sr))
        counts.append((int(h), int(r), int(e)))
        a1, a2 = tempo_correct(tempo_estimate(wave_m, sr), lab["tempo_bpm"])
        acc1.append(float(a1))
        acc2.append(float(a2))
    if per_item is not None:
        per_item.update(sync=counts, tempo_acc1=acc1)
    return {"sync_f1": pooled_f1(np.array(counts, float).reshape(-1, 3)),  # pooled over items
            "tempo_acc1": float(np.mean(acc1)), "tempo_acc2": float(np.mean(acc2))}


def row_metrics(waves: dict[str, np.ndarray], *, real: dict[str, dict[str, np.ndarray]], labels: list[dict],
                video_embed: torch.Tensor, cvsm, mel_fn, clf: StemClassifier, judge=None,
                motion: np.ndarray | None = None) -> dict:
    """Every metric of one row; `waves` {"music", "sfx"}: (n, T); `real`: the real stems'
    stats and cvsm embeddings {"stats"|"cvsm": {"music"|"sfx": (n, D)}} and the judge's
    probabilities on the real music {"judge": (n, 10)}; `motion`: (n, F) the videos' motion on
    the latent clock (density_motion is left out without it). The per-item values are under "items"."""
    from soundtrack.audio.embeddings import frechet_distance
    from soundtrack.audio.mix import loudness_lufs
    from soundtrack.models.instruments import instrument_metrics
    from soundtrack.music.families import FAMILY_NAMES

    sr = AUDIO.sample_rate
    emb = stem_embeddings(waves, cvsm=cvsm, mel_fn=mel_fn)  # (n, D) each
    out: dict = {}
    for s in STEMS:
        out[f"fad_stats_{s}"] = frechet_distance(emb["stats"][s], real["stats"][s])
        out[f"fad_cvsm_{s}"] = frechet_distance(emb["cvsm"][s], real["cvsm"][s])
    items: dict = {}  # per-item values, for paired_differences
    leak = stem_leakage(clf, emb["stats"])
    items["leak_music"], items["leak_sfx"] = leak["music"].tolist(), leak["sfx"].tolist()
    out["leak_music"] = float(np.mean(items["leak_music"]))
    out["leak_sfx"] = float(np.mean(items["leak_sfx"]))
    out.update(sync_and_tempo(waves, labels, per_item=items))
    for s, key in (("music", "cvsm_video_music"), ("sfx", "cvsm_video_sfx")):  # unit vectors: cosine
        items[key] = (video_embed * torch.from_numpy(emb["cvsm"][s])).sum(-1).tolist()
        out[key] = float(np.mean(items[key]))
    if judge is not None:
        probs = judge_probs(judge, mel_fn, waves["music"])  # (n, 10)
        requested = torch.tensor([[float(f in lab["instruments"]) for f in FAMILY_NAMES] for lab in labels])
        m = instrument_metrics(probs, requested)
        out["inst_recall"], out["inst_fpr"] = m["recall"], m["fpr"]
        out["kl_inst"] = bernoulli_kl(real["judge"], probs)
        det, req = probs >= 0.5, requested > 0.5
        counts = [(det & req).sum(1), req.sum(1), (det & ~req).sum(1), (~req).sum(1)]
        items["inst"] = torch.stack(counts, 1).tolist()  # (n, 4)
    diffs = [abs(loudness_lufs(s_, sr) - loudness_lufs(m_, sr))
             for m_, s_ in zip(waves["music"], waves["sfx"])]
    finite = [d for d in diffs if math.isfinite(d)]
    out["balance_db"] = float(np.mean(finite)) if finite else None
    items["balance_db"] = [d if math.isfinite(d) else None for d in diffs]
    hit = tot = 0
    for wave_m, lab in zip(waves["music"], labels):
        h, t = beat_cut(wave_m, [ev["time"] for ev in lab["events"] if ev["type"] == "cut"], sr)
        hit, tot = hit + h, tot + t
    out["beat_cut"] = hit / tot if tot else None
    # video-music correspondence, on the music's audio
    envs = [onset_envelope(w, sr) for w in waves["music"]]  # one onset envelope per item, read twice
    cuts = [[ev["time"] for ev in lab["events"] if ev["type"] == "cut"] for lab in labels]
    items["cut_accent"] = [cut_accent(e, c) for e, c in zip(envs, cuts)]
    if motion is not None:
        items["density_motion"] = [density_motion(e, m) for e, m in zip(envs, motion)]
    items["cvsm_rr"] = reciprocal_ranks(video_embed, torch.from_numpy(emb["cvsm"]["music"]))
    for key in ("cut_accent", "density_motion", "cvsm_rr"):
        v = [x for x in items.get(key, []) if x is not None]
        out[key] = float(np.mean(v)) if v else None
    out["items"] = items
    return out


__all__ = ["BEAT_CUT_TOLERANCE_S", "beat_cut", "bernoulli_kl", "cut_accent", "cvsm_audio_embeddings",
           "density_motion", "judge_probs", "load_judge", "onset_envelope", "pooled_f1", "reciprocal_ranks",
           "row_metrics", "stats_embeddings", "stem_embeddings", "sync_and_tempo"]
