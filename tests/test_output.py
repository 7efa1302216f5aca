"""The studio's live preview picture, drawn straight from the mels."""
from __future__ import annotations

import numpy as np
from PIL import Image

from soundtrack.plots import MEL_FLOOR, PREVIEW_PANEL, PREVIEW_WIDTH, preview_png
from soundtrack.video.features import VisualEvent


def test_preview_draws_three_panels_low_bins_at_the_bottom_events_and_the_grid(tmp_path) -> None:
    music = np.full((64, 1024), MEL_FLOOR, np.float32)
    music[:5, :] = 0.0  # loud low bins in the music only
    sfx = np.full((64, 1024), MEL_FLOOR, np.float32)
    sfx[59:, 500:] = 0.0  # high bins in the effects, second half only
    path = tmp_path / "p.png"
    preview_png(path, music_mel=music, sfx_mel=sfx, duration_s=8.0,
                events=[VisualEvent(4.0, "flash", 0.5, 1.0)], grid_beats=np.array([1.0, 2.0]))
    img = np.asarray(Image.open(path).convert("RGB")).astype(int)
    H, gap = PREVIEW_PANEL, 3
    assert img.shape == (3 * H + 2 * gap, PREVIEW_WIDTH, 3)
    music_panel, sfx_panel, mix_panel = (img[k * (H + gap):k * (H + gap) + H] for k in range(3))

    def bright(panel: np.ndarray, row: int, col: int) -> bool:
        return panel[row, col].sum() > 400

    assert bright(music_panel, H - 5, 50) and not bright(music_panel, 2, 50)  # low bins drawn low
    assert bright(sfx_panel, 1, 700) and not bright(sfx_panel, 1, 300)  # frame 500 of 800 drawn = 5 s
    assert bright(mix_panel, H - 5, 50) and bright(mix_panel, 1, 700)  # the mix has both
    x = round(4.0 / 8.0 * (PREVIEW_WIDTH - 1))
    assert tuple(sfx_panel[H // 2, x]) == (0xff, 0xd8, 0x4a)  # the flash at 4 s, drawn across the panels
    assert tuple(music_panel[H - 2, round(1.0 / 8.0 * (PREVIEW_WIDTH - 1))]) == (157, 255, 138)  # grid tick
