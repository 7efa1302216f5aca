"""Evaluate the generator against its ablations and baselines: `python -m soundtrack evaluate`.

For the first `n` items of a split (default: 50 test items), one row per system:

- `full`: the whole pipeline as the studio runs it (soundtrack.pipeline.SoundtrackPipeline on
  the item's video.mp4): the SDMA model (`checkpoints/ldm`) with SNIO (`snio_iters`, default
  the studio's), the controls of the item's labels, seed `seed + i` for item i;
- `no_snio`: the same model, inputs and seeds with plain sampling (`snio_iters = 0`);
- `no_sdma`: the plain-attention ablation (`checkpoints/ldm-nosdma`) with SNIO, same inputs and seeds;
- `two_step`: the process the paper argues against: the music of `no_snio`, and effects
  generated afterwards by a separate run (another seed) that never saw that music;
- `retrieval`: the real stems of the nearest TRAINING clip by CVSM video embedding (cosine);
- `round_trip`: the real stems through VAE encode (posterior mode) -> decode -> vocoder, the
  floor the decoder puts under every generated row;
- `real`: the real stems themselves (the reference; its FADs are 0 by construction).

A row whose run directory is missing is skipped with a note. Metrics, per row:

- FAD (soundtrack/audio/embeddings.py) of each stem against the REAL stems of the same
  items, with the training-free stats embedding and with the CVSM audio embedding;
- stem leakage: a music-vs-effects logistic regression on stats embeddings, trained on the
  real stems of the first `LEAKAGE_ITEMS` train items (embeddings cached in `corpus/cache/`);
  `leak_music` = mean P(effects | music stem), `leak_sfx` = mean P(music | effects stem),
  lower is better, the `real` row is the classifier's own floor on held-out stems. (This is
  a clip-level stand-in for the windowed CNN of docs/method/sdma.md §5.)
- effects sync: onset F1 at +-50 ms of `effect_onsets(sfx)` against the item's labelled event
  times, pooled over items (soundtrack/data/verify.py);
- tempo accuracy-1 (+-4%) and accuracy-2 (octave errors allowed) of `tempo_estimate(music)`;
- CVSM video-music and video-effects cosine similarity of the global embeddings (the
  analogue of the paper's ImageBind score);
- instrumentation, judged by the independent instrument judge (another architecture, seed
  and soundfont than SNIO's classifier; soundtrack/models/instruments.py) on the music stem:
  `inst_recall` (requested families detected), `inst_fpr` (unrequested families detected),
  and `kl_inst`: the mean over items and families of KL(Bernoulli(p_real) || Bernoulli(p_row))
  of the judge's probabilities on the real and the row's music (the KL of AudioLDM's tables,
  with the judge as the frozen classifier);
- `balance_db`: mean |LUFS(effects) - LUFS(music)| of the raw stems, the error against the
  0 dB of the default balance 0.5 before the mixer corrects it (the mixer then meets any
  slider exactly; tests/audio/test_mix.py);
- `beat_cut`: the share of the video's cuts with a music beat (librosa beat tracker) within
  +-70 ms: how well the music's pulse lands on the picture's cuts.

Each row also keeps its per-item values (`items`), and the ablations are read as paired
differences: `paired` holds full − no_sdma (SDMA), full − no_snio (SNIO) and no_snio −
two_step (joint generation) for every metric with per-item values, with the 95 % interval
of a paired bootstrap over the items (docs/DECISIONS.md #34). FAD, KL and beat-cut are
set-level numbers and get no interval.

Plus CVSM retrieval (docs/method/cvsm.md eq. 8, 100 candidates) on the whole split, once.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from soundtrack.config import AUDIO
from soundtrack.errors import InputError
from soundtrack.pipeline import checkpoint_root

# The bundled model (checkpoints/, or $SOUNDTRACK_CHECKPOINTS); pass --ldm runs/ldm-small etc. for training runs
DEFAULT_RUNS = {key: str(checkpoint_root() / folder) for key, folder in (
    ("vae", "vae"), ("vocoder", "vocoder"), ("cvsm", "cvsm"), ("ldm", "ldm"), ("ldm_nosdma", "ldm-nosdma"),
    ("instruments", "instruments"), ("judge", "instruments-judge"))}
SYSTEMS = ("full", "no_snio", "no_sdma", "two_step", "retrieval", "round_trip", "real")
TWO_STEP_SEED_OFFSET = 50_021  # the effects run of `two_step` uses seed + i + this
BEAT_CUT_TOLERANCE_S = 0.07
STEMS = ("music", "sfx")
LEAKAGE_ITEMS = 300  # train items whose real stems train the leakage classifier
LEAKAGE_L2 = 1e-2  # ridge on the standardised-feature weights
STATS_CACHE_VERSION = 1
RETRIEVAL_CANDIDATES = 100
SECTION_BEGIN = "<!-- evaluate:begin -->"
SECTION_END = "<!-- evaluate:end -->"
METRICS = (  # (key, markdown header), in table order
    ("fad_stats_music", "FAD stats music"), ("fad_stats_sfx", "FAD stats sfx"),
    ("fad_cvsm_music", "FAD cvsm music"), ("fad_cvsm_sfx", "FAD cvsm sfx"),
    ("leak_music", "leak music"), ("leak_sfx", "leak sfx"), ("sync_f1", "sync F1"),
    ("tempo_acc1", "tempo acc1"), ("tempo_acc2", "tempo acc2"),
    ("inst_recall", "inst recall"), ("inst_fpr", "inst FPR"), ("kl_inst", "KL inst"),
    ("balance_db", "balance dB"), ("beat_cut", "beat-cut"),
    ("cvsm_video_music", "cos v-music"), ("cvsm_video_sfx", "cos v-sfx"), ("s_per_item", "s/item"),
)


# ---------------------------------------------------------------------------------- leakage probe
@dataclass(frozen=True)
class StemClassifier:
    """Logistic regression P(effects | stats embedding) on standardised features."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weight: np.ndarray  # (D,)
    bias: float
    train_accuracy: float
    n_train: int

    def p_effects(self, emb: np.ndarray) -> np.ndarray:
        """(N, D) stats embeddings -> (N,) P(effects)."""
        from scipy.special import expit

        return expit(((emb - self.mean) / self.scale) @ self.weight + self.bias)


def fit_stem_classifier(music: np.ndarray, sfx: np.ndarray, *, l2: float = LEAKAGE_L2) -> StemClassifier:
    """Fit on real stems' stats embeddings `music (N, D)` (label 0) and `sfx (M, D)` (label 1).

    L2-regularised logistic loss, minimised by scipy's L-BFGS from zero: deterministic, and
    no scikit-learn (not a dependency of this project).
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    x = np.concatenate([music, sfx]).astype(np.float64)  # (N + M, D)
    y = np.concatenate([np.zeros(len(music)), np.ones(len(sfx))])  # (N + M,)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-8
    xs = (x - mean) / scale

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        logit = xs @ w + b
        nll = -np.mean(y * log_expit(logit) + (1 - y) * log_expit(-logit)) + 0.5 * l2 * w @ w
        r = (expit(logit) - y) / len(y)  # (N + M,) d nll / d logit
        return float(nll), np.concatenate([xs.T @ r + l2 * w, [r.sum()]])

    theta = minimize(loss, np.zeros(xs.shape[1] + 1), jac=True, method="L-BFGS-B",
                     options={"maxiter": 500}).x
    clf = StemClassifier(mean=mean, scale=scale, weight=theta[:-1], bias=float(theta[-1]),
                         train_accuracy=0.0, n_train=len(y))
    acc = float(np.mean((clf.p_effects(x) > 0.5) == (y > 0.5)))
    return dataclasses.replace(clf, train_accuracy=acc)


def train_stats_embeddings(corpus: Path, *, n_items: int = LEAKAGE_ITEMS,
                           progress: bool = True) -> dict[str, np.ndarray]:
    """Stats embeddings of the real music and sfx stems of the first `n_items` train items,
    cached in `corpus/cache/`: {"music": (N, D), "sfx": (N, D)}."""
    from tqdm import tqdm

    from soundtrack.audio.embeddings import stats_embedding

    items = sorted(p.parent for p in (corpus / "train").glob("*/labels.json"))[:n_items]
    if not items:
        raise InputError(f"no items in {corpus / 'train'}: the leakage classifier trains on the train split")
    path = corpus / "cache" / f"stats-embeddings-train-{len(items)}-v{STATS_CACHE_VERSION}.npz"
    if path.is_file():
        cached = np.load(path)
        return {stem: cached[stem] for stem in STEMS}
    out: dict[str, list[np.ndarray]] = {stem: [] for stem in STEMS}
    for item in tqdm(items, desc="leakage probe: train stems", unit="item", disable=not progress):
        for stem in STEMS:
            out[stem].append(stats_embedding(_read_stem(item, stem)))
    arrays = {stem: np.stack(v) for stem, v in out.items()}  # (N, D) each
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


# ----------------------------------------------------------------------------------------- helpers
def _read_stem(item: Path, stem: str) -> np.ndarray:
    """A real stem's first 10.24 s, `(163840,)` float32 (zero-padded if shorter)."""
    import soundfile as sf

    from soundtrack.pipeline import CLIP_SAMPLES

    wave, sr = sf.read(os.fspath(item / f"{stem}.wav"), dtype="float32", frames=CLIP_SAMPLES)
    assert sr == AUDIO.sample_rate and wave.ndim == 1, f"{item}/{stem}.wav: {sr=} {wave.shape=}"
    return np.pad(wave, (0, CLIP_SAMPLES - len(wave)))


def _train_video_embeddings(cvsm, corpus: Path, *, chunk: int = 32,
                            progress: bool = True) -> tuple[list[str], torch.Tensor]:
    """(names, (N, D) CVSM video embeddings) of the whole train split, read from the video
    cache a chunk at a time (the train thumbnails are ~1 GB)."""
    from safetensors import safe_open
    from tqdm import tqdm

    from soundtrack.data.cache import build_cache, cache_file

    path = cache_file(corpus, "train", "video")
    if not path.is_file():
        build_cache(corpus, "train", "video", progress=progress)
    names = json.loads(path.with_suffix(".json").read_text())["names"]
    embeds = []
    with safe_open(os.fspath(path), framework="pt") as f, torch.no_grad():
        video, thumbs = f.get_slice("video"), f.get_slice("thumbs")
        for i in tqdm(range(0, len(names), chunk), desc="retrieval: train videos", unit="chunk",
                      disable=not progress):
            embeds.append(cvsm.video(video[i:i + chunk].float(), thumbs[i:i + chunk]).embed)  # (b, D)
    return names, torch.cat(embeds)


def _cvsm_audio(cvsm, mel_fn, waves: np.ndarray, *, stem: str, chunk: int = 8) -> torch.Tensor:
    """(N, T) waves -> (N, D) CVSM audio embeddings of their first 1024 mel frames."""
    from soundtrack.audio.embeddings import cvsm_embedding
    from soundtrack.data.cache import MEL_FRAMES

    out = []
    with torch.no_grad():
        for i in range(0, len(waves), chunk):
            mel = mel_fn(torch.from_numpy(waves[i:i + chunk]).float())[..., :MEL_FRAMES]  # (b, 64, 1024)
            out.append(cvsm_embedding(cvsm, mel, stem=stem))
    return torch.cat(out)


def _judge_probs(judge, mel_fn, waves: np.ndarray, *, chunk: int = 16) -> torch.Tensor:
    """(N, T) music waves -> (N, 10) the instrument judge's probabilities."""
    from soundtrack.data.cache import MEL_FRAMES
    from soundtrack.models.instruments import instrument_probs

    with torch.no_grad():
        mels = torch.cat([mel_fn(torch.from_numpy(waves[i:i + chunk]).float())[..., :MEL_FRAMES]
                          for i in range(0, len(waves), chunk)])  # (N, 64, 1024)
    return instrument_probs(judge, mels)


def _bernoulli_kl(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-4) -> float:
    """Mean over items and families of KL(Bern(p) || Bern(q))."""
    p, q = p.clamp(eps, 1 - eps), q.clamp(eps, 1 - eps)
    return float((p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).mean())


def _beat_cut(music: np.ndarray, cuts: list[float], sr: int) -> tuple[int, int]:
    """(cuts with a beat within +-70 ms, cuts) for one item."""
    import librosa

    if not cuts:
        return 0, 0
    _, beats = librosa.beat.beat_track(y=music, sr=sr, hop_length=160, units="time")
    if len(beats) == 0:
        return 0, len(cuts)
    return sum(bool(np.min(np.abs(beats - c)) <= BEAT_CUT_TOLERANCE_S) for c in cuts), len(cuts)


def item_settings(label: dict, *, seed: int, **settings):
    """The studio settings that ask for a corpus item's own labels: its tempo, instruments (all
    at weight 1), key, mode and intensity (clipped to the studio's 0.6-1), with `seed` and any
    further settings (steps, guidance, snio_iters, ...)."""
    from soundtrack.pipeline import Settings

    return Settings(tempo=label["tempo_bpm"], instruments={f: 1.0 for f in label["instruments"]},
                    key=label["key"], mode=label["mode"], intensity=min(1.0, max(0.6, label["intensity"])),
                    seed=seed, **settings)


def stem_embeddings(waves: dict[str, np.ndarray], *, cvsm, mel_fn) -> dict[str, dict[str, np.ndarray]]:
    """Both embeddings of both stems: {"stats"|"cvsm": {"music"|"sfx": (n, D)}} of `waves`
    {"music", "sfx"}: (n, T) at 16 kHz (the FAD inputs)."""
    from soundtrack.audio.embeddings import stats_embedding

    return {"stats": {s: np.stack([stats_embedding(w, AUDIO.sample_rate) for w in waves[s]]) for s in STEMS},
            "cvsm": {s: _cvsm_audio(cvsm, mel_fn, waves[s], stem=s).numpy() for s in STEMS}}


def stem_leakage(clf: StemClassifier, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-item leakage (n,) of each stem from its stats embeddings {"music"|"sfx": (n, D)}:
    P(effects | music stem) and P(music | effects stem); lower is better."""
    return {"music": clf.p_effects(stats["music"]), "sfx": 1.0 - clf.p_effects(stats["sfx"])}


def sync_and_tempo(waves: dict[str, np.ndarray], labels: list[dict], *,
                   per_item: dict | None = None) -> dict[str, float]:
    """Effects onsets against the labelled events, F1 at ±50 ms pooled over items, and
    librosa's tempo accuracy (±4 %; acc2 also accepts half and double) on the music.
    per_item: a dict to receive the per-item counts ("sync": (hits, events, onsets) per
    item, "tempo_acc1": 0/1 per item), for :func:`paired_differences`."""
    from soundtrack.data.verify import effect_onsets, onset_scores, tempo_correct, tempo_estimate

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
    return {"sync_f1": _pooled_f1(np.array(counts, float).reshape(-1, 3)),  # pooled over items
            "tempo_acc1": float(np.mean(acc1)), "tempo_acc2": float(np.mean(acc2))}


def _pooled_f1(counts: np.ndarray) -> float:
    """F1 of (hits, references, estimates) rows (n, 3) summed over the rows."""
    from soundtrack.data.verify import f_measure

    return float(f_measure(*counts.sum(0))[0])


def sample_items(pipe, items: list[Path], labels: list[dict], *, seed: int = 0,
                 **settings) -> dict[str, np.ndarray]:
    """Each item's video generated with its own labels (:func:`item_settings`, seed `seed` + i)
    -> {"music", "sfx"}: (n, T) 16 kHz stems."""
    waves: dict[str, list] = {s: [] for s in STEMS}
    for i, (item, lab) in enumerate(zip(items, labels)):
        take = pipe(item / "video.mp4", item_settings(lab, seed=seed + i, **settings))
        waves["music"].append(take.music16)
        waves["sfx"].append(take.sfx16)
    return {s: np.stack(v).astype(np.float32) for s, v in waves.items()}


def _row_metrics(waves: dict[str, np.ndarray], *, real: dict[str, dict[str, np.ndarray]], labels: list[dict],
                 video_embed: torch.Tensor, cvsm, mel_fn, clf: StemClassifier, judge=None) -> dict:
    """Every metric of one row; `waves` {"music", "sfx"}: (n, T); `real`: the real stems'
    stats and cvsm embeddings {"stats"|"cvsm": {"music"|"sfx": (n, D)}} and the judge's
    probabilities on the real music {"judge": (n, 10)}."""
    from soundtrack.audio.embeddings import frechet_distance
    from soundtrack.audio.mix import loudness_lufs
    from soundtrack.data.families import FAMILY_NAMES
    from soundtrack.models.instruments import instrument_metrics

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
        probs = _judge_probs(judge, mel_fn, waves["music"])  # (n, 10)
        requested = torch.tensor([[float(f in lab["instruments"]) for f in FAMILY_NAMES] for lab in labels])
        m = instrument_metrics(probs, requested)
        out["inst_recall"], out["inst_fpr"] = m["recall"], m["fpr"]
        out["kl_inst"] = _bernoulli_kl(real["judge"], probs)
        det, req = probs >= 0.5, requested > 0.5
        counts = [(det & req).sum(1), req.sum(1), (det & ~req).sum(1), (~req).sum(1)]
        items["inst"] = torch.stack(counts, 1).tolist()  # (n, 4)
    diffs = [abs(loudness_lufs(s_, sr) - loudness_lufs(m_, sr)) for m_, s_ in zip(waves["music"], waves["sfx"])]
    finite = [d for d in diffs if math.isfinite(d)]
    out["balance_db"] = float(np.mean(finite)) if finite else None
    items["balance_db"] = [d if math.isfinite(d) else None for d in diffs]
    hit = tot = 0
    for wave_m, lab in zip(waves["music"], labels):
        h, t = _beat_cut(wave_m, [ev["time"] for ev in lab["events"] if ev["type"] == "cut"], sr)
        hit, tot = hit + h, tot + t
    out["beat_cut"] = hit / tot if tot else None
    out["items"] = items
    return out


# ------------------------------------------------------------------------- paired differences
PAIRED = (  # (row a, row b, what a - b measures)
    ("full", "no_sdma", "SDMA"), ("full", "no_snio", "SNIO"), ("no_snio", "two_step", "joint generation"))
PAIRED_METRICS = (  # (key, markdown header): the metrics with per-item values
    ("leak_music", "leak music"), ("leak_sfx", "leak sfx"), ("sync_f1", "sync F1"),
    ("tempo_acc1", "tempo acc1"), ("inst_recall", "inst recall"), ("inst_fpr", "inst FPR"),
    ("balance_db", "balance dB"), ("cvsm_video_music", "cos v-music"), ("cvsm_video_sfx", "cos v-sfx"))
Measure = Callable[[np.ndarray], dict]  # item indices (with repeats) -> {measure: value or None}


def _item_measure(items: dict) -> Measure:
    """A row's per-item values -> a function of item indices (with repeats) that recomputes
    the row's PAIRED_METRICS on those items (None where a metric has no value)."""
    sync = np.asarray(items["sync"], float).reshape(-1, 3) if "sync" in items else None
    inst = np.asarray(items["inst"], float) if "inst" in items else None  # (n, 4): hits, req, false, unreq
    means = {k: np.array([np.nan if x is None else x for x in items[k]], float)
             for k, _ in PAIRED_METRICS if k in items}

    def measure(idx: np.ndarray) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            k: float(np.nanmean(v[idx])) if np.isfinite(v[idx]).any() else None for k, v in means.items()}
        if sync is not None:
            out["sync_f1"] = _pooled_f1(sync[idx])
        if inst is not None:
            c = inst[idx]
            out["inst_recall"] = c[:, 0].sum() / max(c[:, 1].sum(), 1)
            out["inst_fpr"] = c[:, 2].sum() / max(c[:, 3].sum(), 1)
        return out

    return measure


def paired_bootstrap(n: int, measure_a: Measure, measure_b: Measure, keys: Iterable[str], *,
                     n_boot: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """{key: {"diff", "lo", "hi"}}: system a minus system b on the same n items (or requests),
    with the 95 % percentile interval of a paired bootstrap: the items are resampled with
    replacement, the same draw for both. `measure_x(idx)` computes every measure on the items
    `idx`, so pooled ones (an F1, a detection rate) are re-pooled on each draw; a key missing
    (None or not finite) on either side of the full set is left out, and draws where it is
    missing are skipped."""
    def ok(v: float | None) -> bool:
        return v is not None and math.isfinite(v)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    every = np.arange(n)
    a, b = measure_a(every), measure_b(every)
    boots = [(measure_a(d), measure_b(d)) for d in draws]
    out = {}
    for k in keys:
        if not (ok(a.get(k)) and ok(b.get(k))):
            continue
        diffs = np.array([x[k] - y[k] for x, y in boots if ok(x[k]) and ok(y[k])])
        lo, hi = np.percentile(diffs, [2.5, 97.5]) if len(diffs) else (float("nan"), float("nan"))
        out[k] = {"diff": float(a[k] - b[k]), "lo": float(lo), "hi": float(hi)}
    return out


def paired_rows(rows_a: list, rows_b: list, rates: Callable[[list], dict], keys: Iterable[str], *,
                n_boot: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """:func:`paired_bootstrap` of two systems' rows for the same requests (row i of each is
    request i); rates(rows) computes every measure on a list of rows."""
    assert len(rows_a) == len(rows_b), "paired rows: one row of each system per request"
    return paired_bootstrap(len(rows_a), lambda idx: rates([rows_a[i] for i in idx]),
                            lambda idx: rates([rows_b[i] for i in idx]), keys, n_boot=n_boot, seed=seed)


def format_interval(c: dict[str, float]) -> str:
    """`+0.034* [+0.016, +0.051]`: a paired difference, starred where its interval excludes 0."""
    star = "*" if c["lo"] > 0 or c["hi"] < 0 else ""
    return f"{c['diff']:+.3f}{star} [{c['lo']:+.3f}, {c['hi']:+.3f}]"


def paired_differences(rows: dict[str, dict], a: str, b: str, *, n_boot: int = 2000,
                       seed: int = 0) -> dict[str, dict[str, float]]:
    """{metric: {"diff", "lo", "hi"}}: row a minus row b on the same items, for the
    PAIRED_METRICS with per-item values (:func:`paired_bootstrap`)."""
    ia, ib = rows[a]["items"], rows[b]["items"]
    return paired_bootstrap(len(ia["leak_music"]), _item_measure(ia), _item_measure(ib),
                            [k for k, _ in PAIRED_METRICS], n_boot=n_boot, seed=seed)


# ---------------------------------------------------------------------------------------- evaluate
def evaluate(*, corpus: Path | str, split: str = "test", n: int = 50, runs: dict | None = None,
             steps: int | None = None, guidance: float | None = None, snio_iters: int | None = None,
             seed: int = 0, progress: bool = True) -> dict:
    """Rows of metrics for the first `n` items of `split` (module docstring); JSON-able."""
    from tqdm import tqdm

    from soundtrack.audio.mel import MelSpectrogram
    from soundtrack.data.cache import load_split
    from soundtrack.models.cvsm import load_cvsm, retrieval
    from soundtrack.models.ldm import load_ldm
    from soundtrack.models.vae import load_vae
    from soundtrack.models.vocoder import load_vocoder
    from soundtrack.models.instruments import load_instrument_classifier, load_instrument_judge
    from soundtrack.pipeline import Models, Settings, SoundtrackPipeline, vocode
    from soundtrack.sampling.scores import mean_scores

    defaults = Settings()
    steps = defaults.steps if steps is None else steps
    guidance = defaults.guidance if guidance is None else guidance
    snio_iters = defaults.snio_iters if snio_iters is None else snio_iters
    t_start = time.perf_counter()
    # 1. Check inputs
    corpus = Path(corpus)
    if not (corpus / split).is_dir():
        raise InputError(f"no split {split!r} in {corpus}: build the corpus first "
                         f"(python -m soundtrack data build)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a whole number >= 1, got {n!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a whole number >= 1, got {steps!r}")
    if not math.isfinite(guidance) or guidance < 0:
        raise InputError(f"guidance must be a number >= 0, got {guidance!r}")
    unknown = set(runs or {}) - set(DEFAULT_RUNS)
    if unknown:
        raise InputError(f"unknown run name(s) {sorted(unknown)}; known: {', '.join(DEFAULT_RUNS)}")
    run_dirs = {k: Path(v) for k, v in {**DEFAULT_RUNS, **(runs or {})}.items()}
    have = {k: (p / "model.safetensors").is_file() and (p / "config.json").is_file()
            for k, p in run_dirs.items()}
    if not have["cvsm"]:
        raise InputError(f"no CVSM in {run_dirs['cvsm']}: every row is scored with it "
                         f"(python -m soundtrack.train cvsm)")
    needs = {"full": ("ldm", "vae", "vocoder"), "no_snio": ("ldm", "vae", "vocoder"),
             "no_sdma": ("ldm_nosdma", "vae", "vocoder"), "two_step": ("ldm", "vae", "vocoder"),
             "retrieval": ("cvsm",), "round_trip": ("vae", "vocoder"), "real": ()}
    skipped = {row: f"skipped: no trained run in {', '.join(str(run_dirs[k]) for k in need if not have[k])}"
               for row, need in needs.items() if not all(have[k] for k in need)}
    rows_run = [row for row in SYSTEMS if row not in skipped]

    # 2. Data: the first n items, their real stems, and the models
    arrays = load_split(corpus, split, progress=progress)
    n = min(n, len(arrays))
    labels = arrays.labels[:n]
    items = [corpus / split / name for name in arrays.names[:n]]
    cvsm = load_cvsm(run_dirs["cvsm"])
    vae = load_vae(run_dirs["vae"]) if have["vae"] else None
    vocoder = load_vocoder(run_dirs["vocoder"]) if have["vocoder"] else None
    classifier = load_instrument_classifier(run_dirs["instruments"]) if have["instruments"] else None
    judge = load_instrument_judge(run_dirs["judge"]) if have["judge"] else None
    pipes: dict[str, SoundtrackPipeline] = {}
    for key in ("ldm", "ldm_nosdma"):
        if have[key] and have["vae"] and have["vocoder"]:
            ldm = load_ldm(run_dirs[key])
            if ldm.cfg.video_dim != cvsm.cfg.token_dim:
                raise InputError(f"{run_dirs[key]} expects {ldm.cfg.video_dim}-wide video tokens, "
                                 f"{run_dirs['cvsm']} gives {cvsm.cfg.token_dim}")
            pipes[key] = SoundtrackPipeline(Models(
                vae=vae, vocoder=vocoder, cvsm=cvsm, ldm=ldm.eval().requires_grad_(False), vae_run=run_dirs["vae"],
                vocoder_run=run_dirs["vocoder"], cvsm_run=run_dirs["cvsm"], ldm_run=run_dirs[key],
                instruments=classifier, instruments_run=run_dirs["instruments"] if classifier else None))
    for m in (cvsm, vae, vocoder):
        if m is not None:
            m.eval().requires_grad_(False)
    row_pipe = {"full": ("ldm", snio_iters, 0), "no_snio": ("ldm", 0, 0), "no_sdma": ("ldm_nosdma", snio_iters, 0),
                "two_step": ("ldm", 0, TWO_STEP_SEED_OFFSET)}  # row -> (model, SNIO iterations, seed offset)
    mel_fn = MelSpectrogram(AUDIO)
    with torch.no_grad():
        video_embed = torch.cat([cvsm.video(arrays.video[i:min(i + 16, n)].float(),
                                            arrays.thumbs[i:min(i + 16, n)]).embed
                                 for i in range(0, n, 16)])  # (n, D) unit vectors

    # 3. The leakage probe, on real train stems
    t0 = time.perf_counter()
    train_stats = train_stats_embeddings(corpus, progress=progress)
    clf = fit_stem_classifier(train_stats["music"], train_stats["sfx"])
    probe_s = time.perf_counter() - t0

    # 4. Nearest training clips for the retrieval row (video -> video, cosine of unit vectors)
    retrieved: list[Path] = []
    if "retrieval" in rows_run:
        train_names, train_embed = _train_video_embeddings(cvsm, corpus, progress=progress)
        nearest = (video_embed @ train_embed.T).argmax(dim=1)  # (n,)
        retrieved = [corpus / "train" / train_names[int(j)] for j in nearest]

    # 5. Every system's stems, item by item
    waves = {row: {s: [] for s in STEMS} for row in rows_run}
    seconds = {row: 0.0 for row in rows_run}
    scores: dict[str, list] = {row: [] for row in rows_run if row in row_pipe}
    for i in tqdm(range(n), desc="evaluate", unit="item", disable=not progress):
        lab = labels[i]
        for row in rows_run:
            t0 = time.perf_counter()
            if row in row_pipe:
                key, iters, offset = row_pipe[row]
                settings = item_settings(lab, seed=seed + i + offset, steps=steps, guidance=guidance,
                                         snio_iters=iters)
                take = pipes[key](items[i] / "video.mp4", settings)
                scores[row].append(take.report["scores"])
                pair = (take.music16, take.sfx16)
                if row == "two_step":  # music from the no_snio run (same seed), effects from this run
                    pair = (waves["no_snio"]["music"][-1] if "no_snio" in waves else take.music16, take.sfx16)
            elif row == "round_trip":
                with torch.no_grad():
                    mels = torch.stack([arrays.music_mel[i], arrays.sfx_mel[i]]).float()  # (2, 64, 1024)
                    pair = tuple(vocode(vocoder, vae.decode(vae.encode(mels))).numpy())  # (163840,) x 2
            elif row == "retrieval":
                pair = (_read_stem(retrieved[i], "music"), _read_stem(retrieved[i], "sfx"))
            else:  # real
                pair = (_read_stem(items[i], "music"), _read_stem(items[i], "sfx"))
            seconds[row] += time.perf_counter() - t0
            for s, w in zip(STEMS, pair):
                waves[row][s].append(np.asarray(w, np.float32))

    # 6. Metrics, every row against the real stems of the same items
    t0 = time.perf_counter()
    real_waves = {s: np.stack(waves["real"][s]) for s in STEMS}  # (n, T)
    real = stem_embeddings(real_waves, cvsm=cvsm, mel_fn=mel_fn)
    if judge is not None:
        real["judge"] = _judge_probs(judge, mel_fn, real_waves["music"])
    rows: dict[str, dict] = {}
    for row in rows_run:
        stacked = {s: np.stack(waves[row][s]) for s in STEMS}  # (n, T)
        rows[row] = {**_row_metrics(stacked, real=real, labels=labels, video_embed=video_embed, cvsm=cvsm,
                                    mel_fn=mel_fn, clf=clf, judge=judge),
                     "s_per_item": seconds[row] / n}
    snio_scores = {row: {"output": mean_scores([sc["output"] for sc in v]),
                         "surrogate_before": mean_scores([sc["before_snio"] for sc in v]),
                         "surrogate_after": mean_scores([sc["after_snio"] for sc in v])}
                   for row, v in scores.items() if v}
    paired = {f"{a}-{b}": paired_differences(rows, a, b) for a, b, _ in PAIRED if a in rows and b in rows}
    metrics_s = time.perf_counter() - t0
    cvsm_retrieval = retrieval(cvsm, arrays, n_candidates=RETRIEVAL_CANDIDATES)

    return {
        "rows": rows,
        "paired": paired,
        "skipped": skipped,
        "control_scores": snio_scores,
        "labels": [{"tempo_bpm": lab["tempo_bpm"], "instruments": lab["instruments"], "events": lab["events"]}
                   for lab in labels],
        "cvsm_retrieval": {k: float(v) for k, v in cvsm_retrieval.items()},
        "leakage_classifier": {"kind": "logistic regression on stats embeddings (L-BFGS, L2 "
                                       f"{LEAKAGE_L2})", "n_train": clf.n_train,
                               "train_accuracy": clf.train_accuracy},
        "settings": {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "corpus": str(corpus), "split": split, "n": n, "steps": steps, "guidance": guidance, "seed": seed,
            "snio_iters": snio_iters,
            "scheduler": "dpm++", "runs": {k: str(v) for k, v in run_dirs.items()},
            "machine": platform.node(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "timings": {"total_s": time.perf_counter() - t_start, "leakage_probe_s": probe_s,
                    "metrics_s": metrics_s, "generate_s": seconds},
    }


# ------------------------------------------------------------------------------------------ report
def _fmt(x: object) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) >= 100 else f"{x:.3f}"
    return str(x)


def markdown_table(result: dict) -> str:
    """The rows as a Markdown table, then the skipped rows and CVSM retrieval."""
    header = ["system"] + [title for _, title in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, values in result["rows"].items():
        lines.append("| " + " | ".join([row] + [_fmt(values.get(k)) for k, _ in METRICS]) + " |")
    for row, note in result.get("skipped", {}).items():
        lines.append(f"\n`{row}`: {note}")
    cs = result.get("control_scores")
    if cs:
        names = sorted({k for v in cs.values() for k in v["output"] if k != "total"})
        lines += ["", "Control scores of the generated rows (docs/method/snio.md eqs. 3-7; higher is better), on "
                  "the sampled output, and on SNIO's surrogate before and after optimisation:", "",
                  "| system | " + " | ".join(f"{k} out" for k in names) + " | " +
                  " | ".join(f"{k} surr. before→after" for k in names) + " |",
                  "|" + "---|" * (1 + 2 * len(names))]
        for row, v in cs.items():
            lines.append("| " + " | ".join([row] + [_fmt(v["output"].get(k)) for k in names] +
                                           [f"{_fmt(v['surrogate_before'].get(k))}→{_fmt(v['surrogate_after'].get(k))}"
                                            for k in names]) + " |")
    paired = result.get("paired")
    if paired:
        n = result.get("settings", {}).get("n", "the")
        lines += ["", f"Ablations as paired differences on the same {n} items (row a minus row b; "
                  "95 % interval of a paired bootstrap over the items, 2,000 draws; * where the "
                  "interval excludes 0). Lower is better for leakage, FPR and balance dB, higher for "
                  "the rest:", "",
                  "| a − b | " + " | ".join(title for _, title in PAIRED_METRICS) + " |",
                  "|" + "---|" * (1 + len(PAIRED_METRICS))]
        for a, b, what in PAIRED:
            d = paired.get(f"{a}-{b}")
            if d is None:
                continue
            cells = [format_interval(d[key]) if key in d else "—" for key, _ in PAIRED_METRICS]
            lines.append(f"| {what}: {a} − {b} | " + " | ".join(cells) + " |")
    r = result.get("cvsm_retrieval")
    if r:
        lines.append(f"\nCVSM retrieval among {int(r['n_candidates'])} candidates (chance R@1 "
                     f"{r['chance_r1']:.3f}): video→music R@1 {r['video_music_r1']:.3f} / R@5 "
                     f"{r['video_music_r5']:.3f}, video→effects R@1 {r['video_effects_r1']:.3f} / R@5 "
                     f"{r['video_effects_r5']:.3f}, music→video R@1 {r['music_video_r1']:.3f} / R@5 "
                     f"{r['music_video_r5']:.3f}.")
    return "\n".join(lines)


def results_section(result: dict, *, command: str) -> str:
    """The text between the evaluate markers in docs/RESULTS.md."""
    s = result["settings"]
    date = s["date"][:10]
    runs = ", ".join(f"{k}={v}" for k, v in s["runs"].items())
    return "\n".join([
        "## Evaluation", "",
        f"`{command}` ({date}; {s['split']} split, first {s['n']} items, {s['steps']} {s['scheduler']} "
        f"steps, "
        f"guidance {s['guidance']:g}, SNIO {s.get('snio_iters', 0)} iterations where used, seed {s['seed']} + "
        f"item index; machine {s['machine']}, "
        f"{s['cpu_count']} CPUs, {s['torch_threads']} torch threads; total "
        f"{result['timings']['total_s']:.0f} s).", "",
        f"Runs: {runs}.", "",
        markdown_table(result),
    ])


def write_results_section(path: Path, section: str, *, begin: str = SECTION_BEGIN,
                          end: str = SECTION_END) -> None:
    """Put `section` between the markers `begin` and `end` of `path` (default: the evaluate
    ones), replacing an earlier one and keeping everything else; append it (creating the
    file) when there is none. Atomic: a temporary file renamed over `path`."""
    block = f"{begin}\n{section.strip()}\n{end}"
    text = path.read_text() if path.is_file() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def publish(result: dict, table: str, *, json_path: Path | None, results_md: Path | None, module: str,
            argv: list[str], heading: str, detail: str, begin: str, end: str) -> None:
    """What an evaluation command does with its result: print the table, write the JSON, and put
    the section `## heading`, with the command that made it and `detail`, into results_md."""
    print(table)
    if json_path:
        json_path.write_text(json.dumps(result, indent=1, default=float))
    if results_md:
        command = shlex.join(["python", "-m", module, *argv])
        write_results_section(results_md, f"## {heading}\n\n`{command}` ({detail})\n\n{table}",
                              begin=begin, end=end)


# --------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m soundtrack.evaluate",
                                     description="score the generator, its ablation and two baselines")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the studio's)")
    parser.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the studio's)")
    parser.add_argument("--snio-iters", type=int, default=None, help="SNIO iterations of the rows that use it "
                                                                     "(default: the studio's)")
    parser.add_argument("--seed", type=int, default=0)
    for key, default in DEFAULT_RUNS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=Path, default=Path(default),
                            help=f"run directory (default {default})")
    parser.add_argument("--json", type=Path, help="write the full result here")
    parser.add_argument("--results-md", type=Path, help="write/replace the evaluate section of this file")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        runs = {k: getattr(args, k) for k in DEFAULT_RUNS}
        result = evaluate(corpus=args.corpus, split=args.split, n=args.n, steps=args.steps,
                          guidance=args.guidance, snio_iters=args.snio_iters, seed=args.seed, runs=runs,
                          progress=not args.no_progress)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    if args.results_md:
        command = shlex.join(["python", "-m", "soundtrack", "evaluate", *argv])
        write_results_section(args.results_md, results_section(result, command=command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
