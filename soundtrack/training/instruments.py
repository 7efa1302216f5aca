"""The `instruments` and `instruments-judge` training stages, and the detectors' evaluation.

- :class:`InstrumentBatches`: augmented random crops (`AugmentConfig`) of the music stems of
  the config's soundfonts, from the corpus or from a re-render
  (`python -m soundtrack.corpus rerender CORPUS --soundfont NAME`);
- :class:`InstrumentStage` / :class:`JudgeStage`: binary cross-entropy per family on those
  crops; train with `python -m soundtrack.training instruments --config small-ms` and
  `python -m soundtrack.training instruments-judge --config small-2sf`;
- :func:`evaluate_split` and the command

      python -m soundtrack.training.instruments eval --corpus corpus --classifier RUN --judge RUN

  `instrument_metrics` of both models on a split's music stems, for all items and per
  soundfont (the runs default to the bundled checkpoints,
  `soundtrack.models.checkpoint.run_folder`).

The models are soundtrack/models/instruments.py.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from soundtrack.config import named_config
from soundtrack.corpus.cache import CorpusArrays, load_split
from soundtrack.corpus.rerender import load_rerender
from soundtrack.errors import InputError
from soundtrack.models.checkpoint import run_folder
from soundtrack.models.cvsm import LOG_FLOOR, N_MELS
from soundtrack.models.instruments import (CLASSIFIER_CONFIGS, JUDGE_CONFIGS, ClassifierConfig,
                                           InstrumentClassifier, InstrumentJudge, JudgeConfig,
                                           instrument_metrics, instrument_probs, load_instrument_classifier,
                                           load_instrument_judge)

SOUNDFONTS = ("timgm6mb", "fluidr3")  # the corpus's (soundtrack.corpus.build); others come as re-renders


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
    `soundtrack.corpus.rerender.load_rerender` returns it). Batch k is a pure function of
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
                                 f"through it (python -m soundtrack.corpus rerender CORPUS --soundfont {sf})")
            mels.append(arrays.music_mel[index])
            targets.append(arrays.instruments[index])
        self.mel = torch.cat(mels)  # (M, 64, T) float16
        self.targets = torch.cat(targets)  # (M, 10)
        if self.mel.shape[2] < cfg.aug.crop:
            raise InputError(f"corpus mels have {self.mel.shape[2]} frames, fewer than the crop "
                             f"{cfg.aug.crop}")

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
            mel = torch.lerp(mel.gather(1, lo[:, :, None].expand_as(mel)),
                             mel.gather(1, hi[:, :, None].expand_as(mel)), w)
        curve = torch.from_numpy(rng.uniform(-aug.gain_db, aug.gain_db, size=(B, 1)) * db).float()  # gain
        if aug.eq_db > 0:
            k = np.arange(1, 4)[None, :, None]  # (1, 3, 1)
            cosines = np.cos(np.pi * k * np.linspace(0, 1, N_MELS))  # (1, 3, 64)
            shape = (rng.uniform(-1, 1, size=(B, 3, 1)) * cosines).sum(1)
            shape /= np.abs(shape).max(axis=1, keepdims=True) + 1e-8  # (B, 64), peak 1
            curve = curve + torch.from_numpy(shape * rng.uniform(0, aug.eq_db, size=(B, 1)) * db).float()
        mel = (mel + curve[:, :, None]).clamp(min=LOG_FLOOR)  # curve: (B, 1) or (B, 64)
        return {"music_mel": mel.to(self.device), "instruments": target.to(self.device)}


class _InstrumentStage:
    """The shared training stage (contract: soundtrack/training/stages.py); see subclasses."""

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
    parser = argparse.ArgumentParser(prog="python -m soundtrack.training.instruments",
                                     description="Instrument-family detectors: evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="recall / FPR / precision of both models on a split (music stems)")
    ev.add_argument("--corpus", type=Path, default=Path("corpus"))
    ev.add_argument("--split", default="test")
    ev.add_argument("--classifier", type=Path, default=run_folder("instruments"),
                    help="classifier run (default: the bundled one)")
    ev.add_argument("--judge", type=Path, default=run_folder("instruments-judge"),
                    help="judge run (default: the bundled one)")
    ev.add_argument("--threshold", type=float, default=0.5)
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        models = {"classifier": load_instrument_classifier(args.classifier),
                  "judge": load_instrument_judge(args.judge)}
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


__all__ = ["SOUNDFONTS", "InstrumentBatches", "InstrumentStage", "JudgeStage", "evaluate_split", "main",
           "soundfont_indices"]

if __name__ == "__main__":
    sys.exit(main())
