"""The notes of corpus items, for the score engine: each item's piece composed again, as lane rolls.

Every item is a pure function of (seed, index) (soundtrack/corpus/build.py) and the composer
is the first to draw from the item's generator, so composing again gives the very notes its
music.wav was rendered from. :func:`item_piece` checks that against the labels (tempo, key,
mode, instruments) and refuses a corpus built by another version of the composer.

    rolls = split_rolls(corpus, "train", frames=256)   # (N, 8, 256, 16) int8 in {-1, 1}

The rolls are cached in corpus/cache/rolls-SPLIT-vN.npy, in the order of the audio cache
(items sorted by name), which is the order of the LDM's latent cache.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from soundtrack.corpus.cache import split_labels
from soundtrack.corpus.compose import Piece, compose
from soundtrack.errors import InputError
from soundtrack.music.score import ScoreNote, encode_roll

ROLLS_VERSION = 2


def item_piece(labels: dict) -> Piece:
    """The piece of a corpus item, composed again from its (seed, index); checked against its labels."""
    rng = np.random.default_rng([int(labels["seed"]), int(labels["index"])])
    piece = compose(rng, duration=float(labels["duration"]))
    same = (abs(piece.tempo_bpm - float(labels["tempo_bpm"])) < 1e-6 and piece.key_name == labels["key"]
            and piece.mode == labels["mode"] and piece.instruments == list(labels["instruments"]))
    if not same:
        raise InputError(f"item {labels['index']} was not composed by this composer (its labels differ "
                         "from the piece composed again): rebuild the corpus")
    return piece


def piece_lanes(piece: Piece) -> dict[str, list[ScoreNote]]:
    """The piece's notes by lane (track role), as ScoreNotes."""
    role_of = {t.channel: t.role for t in piece.tracks}
    lanes: dict[str, list[ScoreNote]] = {}
    for n in piece.notes:
        lanes.setdefault(role_of[n.channel], []).append(ScoreNote(n.start, n.end, n.pitch, n.velocity))
    return lanes


def item_roll(labels: dict, *, frames: int) -> np.ndarray:
    """(8, frames, 16) int8 lane roll of one item from t = 0."""
    piece = item_piece(labels)
    roll = encode_roll(piece_lanes(piece), key=piece.key, mode=piece.mode, frames=frames)
    return roll.astype(np.int8)


def split_rolls(corpus: Path, split: str, *, frames: int) -> np.ndarray:
    """(N, 8, frames, 16) int8 rolls of a split's items in the audio cache's order (cached)."""
    path = corpus / "cache" / f"rolls-{split}-{frames}-v{ROLLS_VERSION}.npy"
    if path.is_file():
        return np.load(path)
    rolls = np.stack([item_roll(lab, frames=frames) for lab in split_labels(corpus, split)])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part.npy")
    np.save(tmp, rolls)
    os.replace(tmp, path)
    return rolls


__all__ = ["ROLLS_VERSION", "item_piece", "item_roll", "piece_lanes", "split_rolls"]
