"""Soundfont rendering: deterministic, independent of what was rendered before."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from soundtrack.corpus.compose import compose
from soundtrack.corpus.synth import check_soundfonts, render_piece
from soundtrack.errors import InputError


@pytest.mark.parametrize("soundfont", ["timgm6mb", "fluidr3", "musescore"])
def test_render_is_deterministic_and_stateless(soundfont: str) -> None:
    a = compose(np.random.default_rng([0, 1]), duration=4.0)
    b = compose(np.random.default_rng([0, 2]), duration=4.0)
    first = render_piece(a, soundfont=soundfont, sr=16_000)
    render_piece(b, soundfont=soundfont, sr=16_000)  # leaves notes and programs behind
    again = render_piece(a, soundfont=soundfont, sr=16_000)
    assert first.shape == (64_000,) and first.dtype == np.float32
    assert np.abs(first).max() > 0.01
    np.testing.assert_array_equal(first, again)


def test_notes_sound_in_the_labelled_key() -> None:
    """The chroma of the rendered music peaks on scale tones of the labelled key."""
    from soundtrack.music.theory import SCALES

    for i in range(4):
        piece = compose(np.random.default_rng([9, i]), duration=6.0)
        audio = render_piece(piece, soundfont="timgm6mb", sr=16_000)
        chroma = librosa.feature.chroma_cqt(y=audio, sr=16_000, hop_length=512).mean(axis=1)
        scale = {(piece.key + d) % 12 for d in SCALES[piece.mode]}
        top3 = set(np.argsort(chroma)[-3:])
        assert top3 <= scale, (piece.key_name, piece.mode, top3)


def test_missing_soundfont_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="unknown soundfont"):
        check_soundfonts(("nope",))
