"""Instrument detectors: shapes at any length, gradients to the mel, probabilities, metrics, the
bundled pair's soundfonts (batches, training, export/load, evaluation: tests/training/test_instruments.py)."""
from __future__ import annotations

import json

import pytest
import torch

from soundtrack.models.checkpoint import run_folder
from soundtrack.models.instruments import (CLASSIFIER_CONFIGS, JUDGE_CONFIGS, InstrumentClassifier,
                                           InstrumentJudge, instrument_metrics, instrument_probs)
from soundtrack.music.families import FAMILY_NAMES

MODELS = [(InstrumentClassifier, CLASSIFIER_CONFIGS["tiny"]), (InstrumentJudge, JUDGE_CONFIGS["tiny"])]


@pytest.mark.parametrize("cls,cfg", MODELS, ids=["classifier", "judge"])
def test_logits_shape_at_any_length(cls, cfg) -> None:
    torch.manual_seed(0)
    model = cls(cfg).eval()
    for T in (128, 300, 1024):
        assert model(torch.randn(2, 64, T) - 5).shape == (2, len(FAMILY_NAMES))
    with pytest.raises(AssertionError):
        model(torch.randn(1, 64, 64))


@pytest.mark.parametrize("cls,cfg", MODELS, ids=["classifier", "judge"])
def test_gradient_reaches_input_mel_and_every_parameter(cls, cfg) -> None:
    torch.manual_seed(0)
    model = cls(cfg).eval()
    mel = (torch.randn(2, 64, 256) - 5).requires_grad_()
    torch.sigmoid(model(mel))[:, 3].sum().backward()
    assert mel.grad is not None and torch.isfinite(mel.grad).all() and mel.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("cls,cfg", MODELS, ids=["classifier", "judge"])
def test_probabilities_in_chunks_match_one_call_and_keep_the_mode(cls, cfg) -> None:
    torch.manual_seed(0)
    model = cls(cfg).train()
    mels = torch.randn(5, 64, 128) - 5  # (N, 64, T)
    probs = instrument_probs(model, mels, chunk=2)  # (N, 10)
    assert probs.shape == (5, len(FAMILY_NAMES)) and ((probs >= 0) & (probs <= 1)).all()
    assert model.training, "the caller's mode is restored"
    with torch.no_grad():
        torch.testing.assert_close(probs, torch.sigmoid(model.eval()(mels)))


def test_the_bundled_judge_and_snio_classifier_hear_no_soundfont_in_common() -> None:
    """Issue 4: the judge is trained on audio rendered through other soundfonts than SNIO's classifier."""
    heard = {}
    for name in ("instruments", "instruments-judge"):
        cfg = json.loads((run_folder(name) / "config.json").read_text())
        heard[name] = {cfg["soundfont"], *cfg.get("more_soundfonts", ())}
    assert heard["instruments"].isdisjoint(heard["instruments-judge"]), heard
    assert heard["instruments-judge"] == {"timgm6mb", "fluidr3"}  # both soundfonts of the corpus


def test_metrics_on_known_detections() -> None:
    targets = torch.tensor([[1, 1, 0, 0], [0, 1, 0, 1]], dtype=torch.float32)
    probs = torch.tensor([[0.9, 0.2, 0.6, 0.1], [0.1, 0.7, 0.3, 0.8]])
    m = instrument_metrics(probs, targets)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["fpr"] == pytest.approx(1 / 4)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["item_recall"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["exact"] == pytest.approx(1 / 2)
    assert m["auc"] == pytest.approx(1.0)  # every family's positives outscore its negatives
    assert instrument_metrics(probs, targets, threshold=0.05)["recall"] == 1.0
