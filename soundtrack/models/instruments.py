"""Instrument-family detectors over a music log-mel: a score for SNIO and an independent judge.

Both map a natural-log mel `(B, 64, T)` (any T >= 128; 1024 frames = 10.24 s at 100 frames/s,
values in [log 1e-5, ~2], as `soundtrack.audio.mel` computes them) to logits `(B, 10)` in
FAMILY_NAMES order; sigmoid gives the probability that a family plays. They normalise the
mel themselves, with the fixed constants of CVSM (eq. 2b).

- `InstrumentClassifier` (stage `instruments`): a small 2-D conv front end on the mel
  image, a 1-D conv stack over time, mean+max pooling. Every op on the input path is
  differentiable, so noise optimisation can follow its gradient (SNIO). The bundled one
  (`small-ms`, seed 0) is trained on every train composition re-rendered through MuseScore
  General (`soundtrack.data.rerender`), a soundfont neither the corpus nor the judge uses.
- `InstrumentJudge` (stage `instruments-judge`): a transformer over 8-frame patches (a bag of
  patches: no positions). Another architecture, other soundfonts, another seed, so a sampler
  tuned against the classifier cannot simply fool the judge. Evaluation only. The bundled
  one (`small-2sf`, seed 1) is trained on the corpus's train items of both soundfonts,
  TimGM6mb and FluidR3: the audio the diffusion model learned from.

Test split, threshold 0.5, all 200 items (`python -m soundtrack.models.instruments eval`):
the judge reaches recall 0.82 / false-positive rate 0.06 (TimGM6mb items 0.81 / 0.07,
FluidR3 0.84 / 0.04); the classifier, which heard neither soundfont, 0.75 / 0.13. The
first configs (`small`: the classifier on TimGM6mb items only, the judge on FluidR3 only)
did not transfer to the soundfont they never heard: the judge reached 0.84 / 0.05 on
FluidR3 but 0.68 / 0.26 on TimGM6mb (docs/DECISIONS.md #33). Bass and drums are near
perfect everywhere; piano, mallets and synth carry the errors.

`instrument_metrics` scores thresholded probabilities against the requested families;
`python -m soundtrack.models.instruments eval --corpus corpus --classifier RUN --judge RUN`
prints them for both models on a split.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from soundtrack.config import TrainConfig, named_config
from soundtrack.data.cache import CorpusArrays
from soundtrack.data.families import FAMILY_NAMES
from soundtrack.errors import InputError
from soundtrack.models.cvsm import LOG_FLOOR, MEL_MEAN, MEL_STD, N_MELS

N_FAMILIES = len(FAMILY_NAMES)
MIN_FRAMES = 128  # 1.28 s: the shortest mel either model accepts
SOUNDFONTS = ("timgm6mb", "fluidr3")  # the corpus's (soundtrack.data.build); others come as re-renders


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation of a music log-mel (all in the log domain, ln units).

    A random smooth EQ curve, a shift of a bin or so along the mel axis and a small time
    stretch (envelopes) stand in for another bank's timbre; mixing two items (logaddexp of
    their mels, union of their families) makes new combinations of families out of the same
    ~800 renders. They help within a soundfont but do not close the gap to the other one
    (`python -m soundtrack.models.instruments eval` reports both).
    """

    crop: int = 512  # random time crop, mel frames
    gain_db: float = 6.0  # random gain in [-g, g] dB
    eq_db: float = 0.0  # random smooth EQ (3 cosines over the mel axis), peak in [0, g] dB
    shift_bins: float = 0.0  # random shift along the mel axis in [-s, s] bins (linear interpolation)
    stretch: float = 1.0  # random time stretch by a factor in [1/s, s] (tempo and envelopes)
    mix_prob: float = 0.0  # chance that a crop is mixed with another item's crop


@dataclass(frozen=True)
class ClassifierConfig:
    """The differentiable conv classifier (the SNIO score)."""

    channels: tuple[int, ...] = (16, 32, 48)  # 2-D convs, each stride 2 in frequency and time
    hidden: int = 128  # width of the 1-D stack over time
    layers: int = 2  # 1-D residual blocks (dilations 1, 2, 4, ...)
    soundfont: str = "timgm6mb"  # trains on this soundfont's audio (InstrumentBatches)
    more_soundfonts: tuple[str, ...] = ()  # and on these soundfonts' audio too
    seed: int = 0  # initialisation and batch draws (mixed with the --seed of soundtrack.train)
    aug: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class JudgeConfig:
    """The patch transformer judge (evaluation only)."""

    patch: int = 8  # mel frames per token (64 x 8 values)
    dim: int = 128
    heads: int = 4
    layers: int = 3
    dropout: float = 0.1
    soundfont: str = "fluidr3"
    more_soundfonts: tuple[str, ...] = ()  # see ClassifierConfig
    seed: int = 1
    aug: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


_TINY_AUG = AugmentConfig(crop=128)
_TINY_TRAIN = TrainConfig(steps=20, batch_size=4, lr=3e-3, warmup=2, log_every=1, ckpt_every=1000)

# `small`: 4500 steps at batch 16, on one CPU thread shared with two other trainings on 2 cores
# 6.1 min (classifier, ~80 ms/step) and 6.9 min (judge, ~90 ms/step). The sixth session's
# `small-ms` classifier (4500 steps) and `small-2sf` judge (9000) side by side, one thread
# each: 4.5 min (59 ms/step) and 9.9 min (66 ms/step).
_SMALL_AUG = AugmentConfig(crop=512, gain_db=6.0, eq_db=6.0, shift_bins=1.0, stretch=1.1, mix_prob=0.5)

_CLASSIFIER_TRAIN = TrainConfig(steps=4500, batch_size=16, lr=2e-3, warmup=100, weight_decay=0.01,
                                log_every=50, ckpt_every=500)
CLASSIFIER_CONFIGS: dict[str, ClassifierConfig] = {
    "tiny": ClassifierConfig(channels=(4, 8), hidden=16, layers=1, aug=_TINY_AUG, train=_TINY_TRAIN),
    "small": ClassifierConfig(aug=_SMALL_AUG, train=_CLASSIFIER_TRAIN),
    # sixth session: every train composition re-rendered through MuseScore General, a soundfont
    # neither the corpus nor the judge uses (docs/DECISIONS.md #33)
    "small-ms": ClassifierConfig(soundfont="musescore", aug=_SMALL_AUG, train=_CLASSIFIER_TRAIN),
}

JUDGE_CONFIGS: dict[str, JudgeConfig] = {
    "tiny": JudgeConfig(dim=16, heads=2, layers=1, aug=_TINY_AUG, train=_TINY_TRAIN),
    "small": JudgeConfig(aug=_SMALL_AUG, train=TrainConfig(steps=4500, batch_size=16, lr=1e-3, warmup=200,
                                                           weight_decay=0.01, log_every=50, ckpt_every=500)),
    # sixth session: both corpus soundfonts, so the judge hears what the diffusion model learned
    # from (2x the audio, 2x the steps); SNIO's classifier then hears a third soundfont
    "small-2sf": JudgeConfig(more_soundfonts=("timgm6mb",), aug=_SMALL_AUG,
                             train=TrainConfig(steps=9000, batch_size=16, lr=1e-3, warmup=200,
                                               weight_decay=0.01, log_every=50, ckpt_every=500)),
}


def _normalise(mel: torch.Tensor) -> torch.Tensor:
    """Log-mel (B, 64, T) -> zero-mean, unit-scale floats (CVSM eq. 2b)."""
    assert mel.ndim == 3 and mel.shape[1] == N_MELS and mel.shape[2] >= MIN_FRAMES, f"{mel.shape=}"
    return (mel.float() - MEL_MEAN) / MEL_STD


class _Residual1d(nn.Module):
    """x + W2 GELU(W1_dilated GroupNorm(x)) on `(B, C, T)`."""

    def __init__(self, channels: int, *, dilation: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(F.gelu(self.conv(self.norm(x))))


class InstrumentClassifier(nn.Module):
    """Log-mel (B, 64, T) -> family logits (B, 10); differentiable in the mel.

    Stride-2 3x3 convolutions read the mel as an image (timbre is a pattern across
    frequency), the frequency axis is then folded into channels for a dilated 1-D stack
    over time, and the mean and max over time feed a linear head (max: a family that plays
    for two seconds of ten still counts).
    """

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        convs: list[nn.Module] = []
        c_in = 1
        for c in cfg.channels:
            convs += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GELU()]
            c_in = c
        self.front = nn.Sequential(*convs)  # (B, 1, 64, T) -> (B, C, 64 / 2^n, T / 2^n)
        bins = N_MELS // 2 ** len(cfg.channels)
        self.fold = nn.Conv1d(c_in * bins, cfg.hidden, 1)
        self.blocks = nn.Sequential(*[_Residual1d(cfg.hidden, dilation=2 ** i) for i in range(cfg.layers)])
        self.norm = nn.GroupNorm(1, cfg.hidden)
        self.head = nn.Linear(2 * cfg.hidden, N_FAMILIES)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.front(_normalise(mel)[:, None])  # (B, C, F', T')
        h = self.fold(x.flatten(1, 2))  # (B, hidden, T')
        h = F.gelu(self.norm(self.blocks(h)))
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # (B, 2 * hidden)
        return self.head(pooled)  # (B, 10)


class InstrumentJudge(nn.Module):
    """Log-mel (B, 64, T) -> family logits (B, 10): a transformer over 8-frame patches.

    Each token is a 64 x 8 patch (80 ms), linearly embedded; no positional code, so the
    judge sees a bag of patches with self-attention between them and works at any length.
    A trailing T mod 8 frames are dropped.
    """

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(N_MELS * cfg.patch, cfg.dim)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, dim_feedforward=2 * cfg.dim, dropout=cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(2 * cfg.dim, N_FAMILIES)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = _normalise(mel)
        B, _, T = x.shape
        n, p = T // self.cfg.patch, self.cfg.patch
        patches = x[:, :, :n * p].reshape(B, N_MELS, n, p).permute(0, 2, 1, 3).reshape(B, n, N_MELS * p)
        h = self.norm(self.encoder(self.embed(patches)))  # (B, n, dim)
        pooled = torch.cat([h.mean(dim=1), h.amax(dim=1)], dim=1)  # (B, 2 * dim)
        return self.head(pooled)  # (B, 10)


def instrument_metrics(probs: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """Detections `probs >= threshold` against the requested families, both (N, 10).

    - recall: requested families detected / requested (pooled over items and families);
    - fpr: unrequested families detected / unrequested;
    - precision: detections that were requested / detections;
    - item_recall, item_fpr: the same rates per item, then averaged over items;
    - exact: items whose detected set equals the requested set;
    - auc: ROC AUC per family (threshold-free), averaged over families that occur and are
      absent somewhere in the set (NaN if none).
    """
    assert probs.shape == targets.shape and probs.ndim == 2, f"{probs.shape=} {targets.shape=}"
    pred = probs.float() >= threshold
    req = targets.float() > 0.5
    tp, fp = (pred & req).sum().item(), (pred & ~req).sum().item()
    n_req, n_unreq = req.sum().item(), (~req).sum().item()
    per_req, per_unreq = req.sum(1).clamp(min=1), (~req).sum(1).clamp(min=1)
    return {
        "recall": tp / max(n_req, 1),
        "fpr": fp / max(n_unreq, 1),
        "precision": tp / max(tp + fp, 1),
        "item_recall": ((pred & req).sum(1) / per_req).mean().item(),
        "item_fpr": ((pred & ~req).sum(1) / per_unreq).mean().item(),
        "exact": (pred == req).all(1).float().mean().item(),
        "auc": _macro_auc(probs.float(), req),
        "n": float(len(probs)),
    }


def _macro_auc(scores: torch.Tensor, req: torch.Tensor) -> float:
    """Mean over families of the Mann-Whitney AUC (ties count half)."""
    aucs = []
    for k in range(scores.shape[1]):
        pos, neg = scores[req[:, k], k], scores[~req[:, k], k]
        if len(pos) and len(neg):
            diff = pos[:, None] - neg[None, :]  # (P, N)
            aucs.append(((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item())
    return float(np.mean(aucs)) if aucs else float("nan")


@torch.no_grad()
def instrument_probs(model: nn.Module, mels: torch.Tensor, *, device: str | torch.device = "cpu",
                     chunk: int = 32) -> torch.Tensor:
    """sigmoid(model(mel)) for every row of `mels` (N, 64, T), in eval mode -> (N, 10) on CPU."""
    was_training = model.training
    model.eval()
    out = [torch.sigmoid(model(mels[i:i + chunk].to(device))).cpu() for i in range(0, len(mels), chunk)]
    model.train(was_training)
    return torch.cat(out)


def soundfont_indices(arrays: CorpusArrays, soundfont: str) -> np.ndarray:
    """Indices of the items rendered with `soundfont` (labels["soundfont"])."""
    if soundfont not in SOUNDFONTS:
        raise InputError(f"unknown soundfont {soundfont!r}; known: {', '.join(SOUNDFONTS)}")
    return np.array([i for i, lab in enumerate(arrays.labels) if lab.get("soundfont") == soundfont], np.int64)


class InstrumentBatches:
    """Augmented random crops of the music of the config's soundfonts (AugmentConfig).

    For each of `cfg.soundfont` and `cfg.more_soundfonts`: the corpus's train items rendered
    with it (labels["soundfont"]), or, for a soundfont the corpus was not rendered with,
    every train composition re-rendered through it (`rerenders[soundfont]`, as
    `soundtrack.data.rerender.load_rerender` returns it). Batch k is a pure function of
    (cfg.seed, seed, step, rank).
    """

    def __init__(self, cfg: ClassifierConfig | JudgeConfig, arrays: CorpusArrays, *,
                 device: str | torch.device,
                 rerenders: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
        self.cfg, self.device = cfg, torch.device(device)
        rerenders = rerenders or {}
        mels, targets = [], []
        for sf in (cfg.soundfont, *cfg.more_soundfonts):
            if sf in rerenders:
                mels.append(rerenders[sf]["music_mel"])
                targets.append(rerenders[sf]["instruments"])
                continue
            in_corpus = soundfont_indices(arrays, sf) if sf in SOUNDFONTS else np.zeros(0, np.int64)
            index = torch.from_numpy(in_corpus)
            if len(index) == 0:
                raise InputError(f"no train items rendered with {sf!r} in the corpus, and no re-render "
                                 f"through it (python -m soundtrack.data rerender CORPUS --soundfont {sf})")
            mels.append(arrays.music_mel[index])
            targets.append(arrays.instruments[index])
        self.mel = torch.cat(mels)  # (M, 64, T) float16
        self.targets = torch.cat(targets)  # (M, 10)
        if self.mel.shape[2] < cfg.aug.crop:
            raise InputError(f"corpus mels have {self.mel.shape[2]} frames, fewer than the crop {cfg.aug.crop}")

    def _crops(self, rng: np.random.Generator, B: int) -> tuple[torch.Tensor, torch.Tensor]:
        """B random crops (B, 64, L) float32, time-stretched, and their targets (B, 10)."""
        aug, T = self.cfg.aug, self.mel.shape[2]
        idx = rng.integers(0, len(self.mel), size=B)  # (B,)
        rate = np.exp(rng.uniform(-1, 1, size=B) * math.log(aug.stretch))  # source frames per output frame
        span = np.minimum(T, np.round(aug.crop * rate)).astype(np.int64)  # (B,) source frames read
        starts = (rng.random(B) * (T - span + 1)).astype(np.int64)
        crops = []
        for i, s, n in zip(idx, starts, span):
            x = self.mel[i, :, s:s + n].float()  # (64, n)
            if n != aug.crop:
                x = F.interpolate(x[None], size=aug.crop, mode="linear", align_corners=False)[0]
            crops.append(x)
        return torch.stack(crops), self.targets[torch.from_numpy(idx)]

    def batch(self, *, step: int, rank: int, world: int, seed: int) -> dict[str, torch.Tensor]:
        aug, B = self.cfg.aug, self.cfg.train.batch_size
        rng = np.random.default_rng([self.cfg.seed, seed, step, rank])
        db = math.log(10) / 20  # dB -> ln
        mel, target = self._crops(rng, B)  # (B, 64, L), (B, 10)
        if aug.mix_prob > 0:
            other, other_target = self._crops(rng, B)
            rel = torch.from_numpy(rng.uniform(-aug.gain_db / 2, aug.gain_db / 2, size=B) * db).float()
            mixed = (rng.random(B) < aug.mix_prob)[:, None]  # (B, 1)
            mel = torch.where(torch.from_numpy(mixed)[:, :, None],
                              torch.logaddexp(mel, other + rel[:, None, None]), mel)
            target = torch.where(torch.from_numpy(mixed), torch.maximum(target, other_target), target)
        if aug.shift_bins > 0:  # out[b] = in[b - shift], linearly interpolated, edges repeated
            pos = (np.arange(N_MELS)[None, :] - rng.uniform(-aug.shift_bins, aug.shift_bins, size=(B, 1)))
            pos = torch.from_numpy(pos.clip(0, N_MELS - 1)).float()  # (B, 64)
            lo = pos.floor().long()
            hi, w = (lo + 1).clamp(max=N_MELS - 1), (pos - lo)[:, :, None]
            mel = torch.lerp(mel.gather(1, lo[:, :, None].expand_as(mel)), mel.gather(1, hi[:, :, None].expand_as(mel)), w)
        curve = torch.from_numpy(rng.uniform(-aug.gain_db, aug.gain_db, size=(B, 1)) * db).float()  # gain
        if aug.eq_db > 0:
            k = np.arange(1, 4)[None, :, None]  # (1, 3, 1)
            shape = (rng.uniform(-1, 1, size=(B, 3, 1)) * np.cos(np.pi * k * np.linspace(0, 1, N_MELS))).sum(1)
            shape /= np.abs(shape).max(axis=1, keepdims=True) + 1e-8  # (B, 64), peak 1
            curve = curve + torch.from_numpy(shape * rng.uniform(0, aug.eq_db, size=(B, 1)) * db).float()
        mel = (mel + curve[:, :, None]).clamp(min=LOG_FLOOR)  # curve: (B, 1) or (B, 64)
        return {"music_mel": mel.to(self.device), "instruments": target.to(self.device)}


class _InstrumentStage:
    """The shared training stage (contract: soundtrack/training_stages.py); see subclasses."""

    table: dict
    model_cls: type[nn.Module]
    what: str

    def config(self, name: str):
        return named_config(self.table, name, what=self.what)

    def build(self, cfg) -> nn.Module:
        with torch.random.fork_rng(devices=[]):  # the config's own seed: 0 classifier, 1 judge
            torch.manual_seed(cfg.seed)
            return self.model_cls(cfg)

    def data(self, cfg, *, corpus: Path | None, device: str | torch.device) -> InstrumentBatches:
        from soundtrack.data.cache import load_split
        from soundtrack.data.rerender import load_rerender

        if corpus is None:
            raise InputError(f"the {self.what} stage needs a corpus (--corpus DIR)")
        arrays = load_split(Path(corpus), "train")
        rendered = {lab.get("soundfont") for lab in arrays.labels}
        rerenders = {sf: load_rerender(Path(corpus), "train", sf)
                     for sf in (cfg.soundfont, *cfg.more_soundfonts) if sf not in rendered}
        return InstrumentBatches(cfg, arrays, device=device, rerenders=rerenders)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], *, step: int
             ) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(batch["music_mel"])  # (B, 10)
        target = batch["instruments"]
        loss = F.binary_cross_entropy_with_logits(logits, target)
        m = instrument_metrics(torch.sigmoid(logits.detach()), target)
        return loss, {"bce": float(loss.detach()), "recall": m["recall"], "fpr": m["fpr"]}


class InstrumentStage(_InstrumentStage):
    """Stage `instruments`: the differentiable classifier (TimGM6mb items)."""

    table, model_cls, what = CLASSIFIER_CONFIGS, InstrumentClassifier, "instruments"


class JudgeStage(_InstrumentStage):
    """Stage `instruments-judge`: the transformer judge (FluidR3 items)."""

    table, model_cls, what = JUDGE_CONFIGS, InstrumentJudge, "instruments-judge"


def load_instrument_classifier(run_dir: Path) -> InstrumentClassifier:
    """A trained classifier from `RUN/config.json` + `RUN/model.safetensors`, in eval mode."""
    from soundtrack.train import load_run

    return load_run(InstrumentClassifier, ClassifierConfig, run_dir, stage="instruments")


def load_instrument_judge(run_dir: Path) -> InstrumentJudge:
    """A trained judge from `RUN/config.json` + `RUN/model.safetensors`, in eval mode."""
    from soundtrack.train import load_run

    return load_run(InstrumentJudge, JudgeConfig, run_dir, stage="instruments-judge")


def evaluate_split(models: dict[str, nn.Module], arrays: CorpusArrays, *, threshold: float = 0.5,
                   device: str | torch.device = "cpu") -> dict[str, dict[str, dict[str, float]]]:
    """{model: {"all" | soundfont: instrument_metrics}} on the music stems of `arrays`."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name, model in models.items():
        probs = instrument_probs(model, arrays.music_mel, device=device)
        rows = {"all": instrument_metrics(probs, arrays.instruments, threshold)}
        for sf in SOUNDFONTS:
            idx = torch.from_numpy(soundfont_indices(arrays, sf))
            if len(idx):
                rows[sf] = instrument_metrics(probs[idx], arrays.instruments[idx], threshold)
        result[name] = rows
    return result


def main(argv: list[str] | None = None) -> int:
    from soundtrack.data.cache import load_split

    parser = argparse.ArgumentParser(prog="python -m soundtrack.models.instruments",
                                     description="Instrument-family detectors: evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="recall / FPR / precision of both models on a split (music stems)")
    ev.add_argument("--corpus", type=Path, default=Path("corpus"))
    ev.add_argument("--split", default="test")
    ev.add_argument("--classifier", type=Path, default=Path("checkpoints/instruments"))
    ev.add_argument("--judge", type=Path, default=Path("checkpoints/instruments-judge"))
    ev.add_argument("--threshold", type=float, default=0.5)
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        models = {"classifier": load_instrument_classifier(args.classifier), "judge": load_instrument_judge(args.judge)}
        arrays = load_split(args.corpus, args.split)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = evaluate_split(models, arrays, threshold=args.threshold)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{args.split} split, {len(arrays)} items, threshold {args.threshold}")
    print(f"{'model':<11} {'items':<9} {'n':>4} {'recall':>7} {'fpr':>6} {'prec':>6} {'exact':>6} {'auc':>6}")
    for name, rows in result.items():
        for subset, m in rows.items():
            print(f"{name:<11} {subset:<9} {int(m['n']):>4} {m['recall']:>7.3f} {m['fpr']:>6.3f} "
                  f"{m['precision']:>6.3f} {m['exact']:>6.3f} {m['auc']:>6.3f}")
    return 0


__all__ = ["CLASSIFIER_CONFIGS", "JUDGE_CONFIGS", "AugmentConfig", "ClassifierConfig", "InstrumentBatches", "InstrumentClassifier",
           "InstrumentJudge", "InstrumentStage", "JudgeConfig", "JudgeStage", "evaluate_split",
           "instrument_metrics", "instrument_probs", "load_instrument_classifier", "load_instrument_judge",
           "soundfont_indices"]

if __name__ == "__main__":
    sys.exit(main())
