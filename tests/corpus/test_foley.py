"""Effects: each sound has exactly one onset, at its start, so labels stay true."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from soundtrack.corpus.foley import EVENT_TYPES, MAX_EFFECT_S, RECORDINGS, load_recording, synthesize

SR = 16_000


def _onsets(x: np.ndarray) -> np.ndarray:
    pad = np.zeros(SR // 2, np.float32)
    y = np.concatenate([pad, x.astype(np.float32), pad])
    return librosa.onset.onset_detect(y=y, sr=SR, hop_length=160, units="time") - 0.5


@pytest.mark.parametrize("kind,path", [(k, p) for k, p, _, _ in RECORDINGS], ids=lambda v: str(getattr(v, "name", v)))
def test_recording_has_one_onset_at_its_start(kind: str, path) -> None:
    assert path.is_file(), f"{path} missing: the Debian sound packages are installed by .ci/run"
    x = load_recording(path, SR)
    assert 0 < len(x) <= MAX_EFFECT_S * SR and abs(np.abs(x).max() - 1) < 1e-6
    onsets = _onsets(x)
    assert len(onsets) == 1 and abs(onsets[0]) <= 0.02, onsets


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_procedural_effects_have_one_onset_at_their_start(kind: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(8):
        effect = synthesize(kind, rng, SR)
        assert effect.name.startswith("synth:") and np.isfinite(effect.audio).all()
        onsets = _onsets(effect.audio)
        assert len(onsets) == 1 and abs(onsets[0]) <= 0.02, (effect.name, onsets)
