"""The music stems of a corpus split, rendered again through another soundfont.

An item's composition is a pure function of (seed, index) (`soundtrack.corpus.build`), so its
music can be rendered through any known General MIDI soundfont without storing MIDI: the
same notes, another timbre. SNIO's instrument classifier trains on the train split rendered
through MuseScore General, a soundfont that neither the corpus nor the evaluation's judge
uses (docs/DECISIONS.md #33).

`load_rerender(corpus, split, soundfont)` returns the log-mels (N, 64, 1024) float16 and the
instrument targets (N, 10) of every item of the split, in the cache's item order; the first
call builds `DIR/cache/<split>-music-<soundfont>-v1.safetensors` (both cores). Each
re-rendered stem is set to the loudness the item's own music stem has (labels.json), so only
the timbre differs from the corpus stem.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import torch

from soundtrack.config import AUDIO
from soundtrack.corpus.cache import clip_mel, instrument_vector, map_items, save_rows, split_items
from soundtrack.errors import InputError

RERENDER_VERSION = 1


def rerender_file(corpus: Path, split: str, soundfont: str) -> Path:
    return corpus / "cache" / f"{split}-music-{soundfont}-v{RERENDER_VERSION}.safetensors"


def rerender_item(item: Path, soundfont: str) -> dict:
    """One item's music re-rendered through `soundfont`:
    {"music_mel": (64, 1024) float16, "instruments": (10,)}."""
    from soundtrack.audio.mel import MelSpectrogram
    from soundtrack.corpus.build import to_lufs
    from soundtrack.corpus.compose import compose
    from soundtrack.corpus.synth import render_piece

    torch.set_num_threads(1)
    labels = json.loads((item / "labels.json").read_text())
    piece = compose(np.random.default_rng([labels["seed"], labels["index"]]), duration=labels["duration"])
    if piece.instruments != labels["instruments"] or abs(piece.tempo_bpm - labels["tempo_bpm"]) > 1e-6:
        raise InputError(f"{item}: the composition of (seed {labels['seed']}, index {labels['index']}) "
                         "is not this item's; the corpus was built by another version of "
                         "soundtrack.corpus.compose")
    music = render_piece(piece, soundfont=soundfont, sr=AUDIO.sample_rate)
    target = labels["loudness"]["music_lufs"]
    if target is not None:
        music = to_lufs(music, AUDIO.sample_rate, target)
    return {"music_mel": clip_mel(MelSpectrogram(AUDIO), music), "instruments": instrument_vector(labels)}


def build_rerender(corpus: Path, split: str, soundfont: str, *, workers: int = 2,
                   progress: bool = True) -> Path:
    """Render every item of the split through `soundfont` and write the cache file."""
    from soundtrack.corpus.synth import check_soundfonts

    check_soundfonts((soundfont,))
    items = split_items(corpus, split)
    rows = map_items(functools.partial(rerender_item, soundfont=soundfont), items,
                     desc=f"render {split} via {soundfont}", workers=workers, progress=progress, chunksize=8)
    path = rerender_file(corpus, split, soundfont)
    save_rows(path, rows, metadata={"names": json.dumps([p.name for p in items])})
    return path


def load_rerender(corpus: Path, split: str, soundfont: str, *, workers: int = 2,
                  progress: bool = True) -> dict[str, torch.Tensor]:
    """{"music_mel": (N, 64, 1024) float16, "instruments": (N, 10)}, building the cache first if missing."""
    from safetensors.torch import load_file

    path = rerender_file(corpus, split, soundfont)
    if not path.is_file():
        build_rerender(corpus, split, soundfont, workers=workers, progress=progress)
    return load_file(os.fspath(path))


__all__ = ["RERENDER_VERSION", "build_rerender", "load_rerender", "rerender_file", "rerender_item"]
