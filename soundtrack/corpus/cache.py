"""Model-ready arrays of a corpus split, computed once and kept in `DIR/cache/`.

`load_split(corpus, split)` returns a :class:`CorpusArrays`; the first call builds the
cache (both cores, progress bar), later calls read it. The cache has two parts with their
own versions, `audio` (mels, label tensors) and `video` (visual features, thumbnails), so a
change to the visual analysis rebuilds only the video part. Everything is at
the clip's fixed sizes: 1024 mel frames (10.24 s at 100 frames/s) and 256 video / latent
frames (25 frames/s).
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from soundtrack.config import AUDIO, CLIP, TIMING, VIDEO
from soundtrack.music.theory import PITCH_NAMES
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.errors import InputError

# Bump a part's version when what it stores changes (e.g. the visual features).
CACHE_VERSIONS = {"audio": 1, "video": 1}
STEMS = ("music", "sfx", "mix")


@dataclass
class CorpusArrays:
    """One split, as tensors (N items)."""

    names: list[str]
    labels: list[dict]
    music_mel: torch.Tensor  # (N, 64, 1024) float16 log-mel
    sfx_mel: torch.Tensor  # (N, 64, 1024) float16
    mix_mel: torch.Tensor  # (N, 64, 1024) float16
    video: torch.Tensor  # (N, 256, F) float32 visual feature matrix (soundtrack.video.matrix)
    thumbs: torch.Tensor  # (N, 256, 3, 32, 32) uint8
    tempo: torch.Tensor  # (N,) float32 BPM
    key: torch.Tensor  # (N,) int64 pitch class
    mode: torch.Tensor  # (N,) int64, 0 major / 1 minor
    instruments: torch.Tensor  # (N, n_families) float32 multi-hot, FAMILY_NAMES order
    events: torch.Tensor  # (N, 256) float32: 1 at latent frames where an effect starts
    beats: torch.Tensor  # (N, 256) float32: 1 at latent frames nearest a beat

    def __len__(self) -> int:
        return len(self.names)


def cache_file(corpus: Path, split: str, part: str) -> Path:
    return corpus / "cache" / f"{split}-{part}-v{CACHE_VERSIONS[part]}.safetensors"


def split_labels(corpus: Path, split: str) -> list[dict]:
    """The split's labels in the cache's order (items sorted by name), read from the audio cache's
    index when it exists (building the cache otherwise)."""
    meta = cache_file(corpus, split, "audio").with_suffix(".json")
    return json.loads(meta.read_text())["labels"] if meta.is_file() else load_split(corpus, split).labels


def load_split(corpus: Path, split: str, *, workers: int = 2, progress: bool = True) -> CorpusArrays:
    """The split's arrays, building the missing cache parts first."""
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    meta: dict = {}
    for part in CACHE_VERSIONS:
        path = cache_file(corpus, split, part)
        if not path.is_file():
            build_cache(corpus, split, part, workers=workers, progress=progress)
        tensors.update(load_file(os.fspath(path)))
        meta = json.loads(path.with_suffix(".json").read_text())
    return CorpusArrays(names=meta["names"], labels=meta["labels"], **tensors)


def build_cache(corpus: Path, split: str, part: str, *, workers: int = 2, progress: bool = True) -> Path:
    """Compute one part ("audio": mels and labels, "video": visual features) for a split."""
    items = split_items(corpus, split)
    fn = {"audio": audio_arrays, "video": video_arrays}[part]
    rows = map_items(fn, items, desc=f"cache {split} {part}", workers=workers, progress=progress, chunksize=4)
    path = cache_file(corpus, split, part)
    labels = [json.loads((it / "labels.json").read_text()) for it in items]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps({"names": [p.name for p in items], "labels": labels}))
    save_rows(path, rows)
    return path


def split_items(corpus: Path, split: str) -> list[Path]:
    """The item folders of a split, sorted (the cache's order)."""
    items = sorted(p.parent for p in (corpus / split).glob("*/labels.json"))
    if not items:
        raise InputError(f"no items in {corpus / split}: build the corpus first "
                         f"(python -m soundtrack.corpus build --out {corpus} --n 2000)")
    return items


def map_items(fn, items: list[Path], *, desc: str, workers: int, progress: bool, chunksize: int) -> list[dict]:
    """fn(item) for every item, in order, on `workers` processes, with a progress bar."""
    from tqdm import tqdm

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(fn, items, chunksize=chunksize), total=len(items), unit="item", desc=desc,
                         disable=not progress))


def save_rows(path: Path, rows: list[dict], *, metadata: dict[str, str] | None = None) -> None:
    """Stack the rows' arrays (every key but "labels") into one safetensors file, atomically."""
    from safetensors.torch import save_file

    tensors = {k: torch.from_numpy(np.stack([r[k] for r in rows])) for k in rows[0] if k != "labels"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    save_file(tensors, os.fspath(tmp), metadata=metadata)
    os.replace(tmp, path)


def audio_arrays(item: Path) -> dict:
    """Log-mels of the three stems and the label tensors of one corpus item (numpy)."""
    import soundfile as sf

    from soundtrack.audio.mel import MelSpectrogram

    torch.set_num_threads(1)
    labels = json.loads((item / "labels.json").read_text())
    mel = MelSpectrogram(AUDIO)
    out: dict = {}
    for stem in STEMS:
        wave, sr = sf.read(item / f"{stem}.wav", dtype="float32")
        assert sr == AUDIO.sample_rate, f"{item}: {sr=}"
        out[f"{stem}_mel"] = clip_mel(mel, wave)
    out["tempo"] = np.float32(labels["tempo_bpm"])
    out["key"] = np.int64(PITCH_NAMES.index(labels["key"]))
    out["mode"] = np.int64(labels["mode"] == "minor")
    out["instruments"] = instrument_vector(labels)
    out["events"] = frame_map([e["time"] for e in labels["events"]])
    out["beats"] = frame_map(labels["beats"])
    return out


def clip_mel(mel, wave: np.ndarray) -> np.ndarray:
    """A clip's 16 kHz wave (T,) -> its log-mel (64, TIMING.mel_frames) float16, as the cache stores
    it; `mel` is a soundtrack.audio.mel.MelSpectrogram."""
    with torch.no_grad():
        m = mel(torch.from_numpy(wave))[0, :, :TIMING.mel_frames]  # (64, 1024)
    assert m.shape == (AUDIO.n_mels, TIMING.mel_frames), f"{m.shape=}"
    return m.numpy().astype(np.float16)


def instrument_vector(labels: dict) -> np.ndarray:
    """(n_families,) float32 multi-hot of labels["instruments"], FAMILY_NAMES order."""
    return np.array([f in labels["instruments"] for f in FAMILY_NAMES], np.float32)


def video_arrays(item: Path) -> dict:
    """The visual feature matrix and thumbnails of one corpus item (numpy)."""
    from soundtrack.video.decode import read_frames
    from soundtrack.video.features import analyze
    from soundtrack.video.matrix import feature_matrix, thumbnails

    frames = read_frames(item / "video.mp4", fps=VIDEO.analysis_fps, width=VIDEO.analysis_width)
    return {"video": feature_matrix(analyze(frames), n_frames=TIMING.latent_frames),
            "thumbs": thumbnails(frames, n_frames=TIMING.latent_frames)}


def frame_map(times: list[float], *, n: int = TIMING.latent_frames,
              fps: float = CLIP.video_fps) -> np.ndarray:
    """`(n,)` float32 with 1 at the frame nearest each time."""
    m = np.zeros(n, np.float32)
    for t in times:
        k = int(round(t * fps))
        if 0 <= k < n:
            m[k] = 1.0
    return m
