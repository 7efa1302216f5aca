"""The Vocos-style vocoder: output length and mel alignment (its loss, training, export and
load: tests/training/test_vocoder.py)."""
from __future__ import annotations

import torch

from soundtrack.audio.mel import MelSpectrogram
from soundtrack.config import AUDIO
from soundtrack.models.vocoder import CONFIGS, Vocoder

TINY = CONFIGS["tiny"]


def test_output_length_lines_up_with_mel() -> None:
    torch.manual_seed(0)
    voc = Vocoder(TINY).eval()
    mel = torch.randn(2, 64, 51) - 5.0  # (B, 64, F)
    with torch.no_grad():
        wave = voc(mel)
    assert wave.shape == (2, 50 * AUDIO.hop_length), f"{wave.shape=}"
    assert MelSpectrogram(AUDIO)(wave).shape == mel.shape
