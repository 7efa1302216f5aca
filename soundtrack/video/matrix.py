"""Visual features as model input: a fixed-width per-frame matrix and small thumbnails.

Both are at the analysis rate (25 frames/s = the latent frame rate), so row k lines up
with latent frame k.
"""
from __future__ import annotations

import numpy as np

from soundtrack.video.decode import Frames
from soundtrack.video.features import VisualFeatures

FEATURE_NAMES: tuple[str, ...] = (
    "motion", "motion_x", "brightness", "saturation", "hue_sin", "hue_cos", "r", "g", "b",
    "cut_strength", "onset", "is_cut", "is_flash", "is_impact",
)
N_FEATURES = len(FEATURE_NAMES)
THUMB = 32  # thumbnail side, pixels


def feature_matrix(vf: VisualFeatures, *, n_frames: int) -> np.ndarray:
    """`(n_frames, N_FEATURES)` float32, cropped or edge-padded to `n_frames` rows.

    Motion is scaled by 10 so that typical values sit near 0..1 like the others; events are
    one-hot at the analysis frame nearest their time.
    """
    n = len(vf.times)
    hue = 2 * np.pi * vf.hue
    cols = [np.clip(10 * vf.motion, 0, 1), vf.motion_x, vf.brightness, vf.saturation,
            np.sin(hue) * vf.saturation, np.cos(hue) * vf.saturation, vf.rgb[:, 0], vf.rgb[:, 1],
            vf.rgb[:, 2], vf.cut_strength, vf.onset]
    onehot = np.zeros((n, 3), np.float32)
    if n:
        fps = 1.0 / float(np.median(np.diff(vf.times))) if n > 1 else 25.0
        for e in vf.events:
            k = int(round(e.time * fps))
            if 0 <= k < n:
                onehot[k, ("cut", "flash", "impact").index(e.type)] = 1.0
    m = np.concatenate([np.stack(cols, axis=1).astype(np.float32), onehot], axis=1)  # (n, F)
    assert m.shape == (n, N_FEATURES), f"{m.shape=}"
    return fit_frames(m, n_frames)


def thumbnails(frames: Frames, *, n_frames: int, size: int = THUMB) -> np.ndarray:
    """`(n_frames, 3, size, size)` uint8 thumbnails (box-filtered, aspect ignored)."""
    from PIL import Image

    thumbs = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BOX)) for f in frames.frames])
    return fit_frames(thumbs.transpose(0, 3, 1, 2), n_frames)  # (n, 3, size, size)


def fit_frames(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or repeat the last row so that `x` has exactly `n` rows."""
    if len(x) >= n:
        return np.ascontiguousarray(x[:n])
    pad = np.repeat(x[-1:], n - len(x), axis=0) if len(x) else np.zeros((n,) + x.shape[1:], x.dtype)
    return np.concatenate([x, pad], axis=0)
