"""Re-rendering a split's music through another soundfont (the instrument models' extra timbres)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from soundtrack.corpus.cache import load_split
from soundtrack.corpus.rerender import load_rerender, rerender_file, rerender_item
from soundtrack.errors import InputError


def test_the_items_own_soundfont_gives_back_its_music_and_another_does_not(tiny_corpus) -> None:
    arrays = load_split(tiny_corpus, "test", progress=False)
    for k, name in enumerate(arrays.names):
        item = tiny_corpus / "test" / name
        same = rerender_item(item, arrays.labels[k]["soundfont"])
        cached = arrays.music_mel[k].float()
        # the same notes through the same soundfont: the corpus mel, up to float16 and the mix's headroom scaling
        assert (torch.from_numpy(same["music_mel"]).float() - cached).abs().mean() < 0.05
        other = rerender_item(item, "musescore")
        assert (torch.from_numpy(other["music_mel"]).float() - cached).abs().mean() > 0.2  # another timbre
        torch.testing.assert_close(torch.from_numpy(other["instruments"]), arrays.instruments[k])


def test_load_builds_the_cache_once_in_item_order(tiny_corpus) -> None:
    path = rerender_file(tiny_corpus, "val", "musescore")
    path.unlink(missing_ok=True)
    out = load_rerender(tiny_corpus, "val", "musescore", workers=1, progress=False)
    arrays = load_split(tiny_corpus, "val", progress=False)
    assert out["music_mel"].shape == arrays.music_mel.shape and out["music_mel"].dtype == torch.float16
    torch.testing.assert_close(out["instruments"], arrays.instruments)
    stamp = path.stat().st_mtime_ns
    load_rerender(tiny_corpus, "val", "musescore", progress=False)
    assert path.stat().st_mtime_ns == stamp  # read, not rebuilt


def test_a_composition_that_is_not_the_items_is_refused(tiny_corpus, tmp_path) -> None:
    src = next((tiny_corpus / "test").iterdir())
    item = tmp_path / src.name
    item.mkdir()
    labels = json.loads((src / "labels.json").read_text())
    (item / "labels.json").write_text(json.dumps({**labels, "index": labels["index"] + 1}))
    with pytest.raises(InputError, match="another version"):
        rerender_item(item, "timgm6mb")


def test_cli_bad_soundfont_is_one_line(tiny_corpus) -> None:
    r = subprocess.run([sys.executable, "-m", "soundtrack.corpus", "rerender", str(tiny_corpus), "--soundfont", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown soundfont" in r.stderr
