"""Build the corpus: DIR/<split>/<item>/{video.mp4, music.wav, sfx.wav, mix.wav, labels.json}.

Each item is a pure function of (seed, index): it is the same whichever worker builds it
and in whatever order. Items are written into a hidden temporary folder and renamed into
place when complete, so an interrupted build leaves no half-written item, and running the
same command again builds only what is missing.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundtrack.audio.io import write_wav
from soundtrack.audio.mix import loudness_lufs
from soundtrack.config import AUDIO, CLIP
from soundtrack.corpus.compose import compose
from soundtrack.corpus.foley import available_recordings, pick_effect
from soundtrack.corpus.scene import plan_scene, render_frames
from soundtrack.corpus.synth import check_soundfonts, render_piece
from soundtrack.video.encode import write_video

SPLITS = ("train", "val", "test")
LABELS_VERSION = 1


@dataclass(frozen=True)
class BuildOptions:
    seed: int = 0
    soundfonts: tuple[str, ...] = ("timgm6mb", "fluidr3")
    sr: int = AUDIO.sample_rate


def split_of(index: int) -> str:
    """Deterministic split that stays put as N grows: 80% train, 10% val, 10% test."""
    return {8: "val", 9: "test"}.get(index % 10, "train")


def item_dir(out: Path, index: int) -> Path:
    return out / split_of(index) / f"{index:06d}"


def build_item(out: Path, index: int, opts: BuildOptions) -> dict:
    """Build item `index` (skipped if already complete); returns its labels."""
    final = item_dir(out, index)
    if (final / "labels.json").is_file():
        return json.loads((final / "labels.json").read_text())
    rng = np.random.default_rng([opts.seed, index])
    piece = compose(rng, duration=CLIP.seconds)
    scene = plan_scene(piece, rng, size=CLIP.video_size, fps=CLIP.video_fps)
    soundfont = opts.soundfonts[int(rng.integers(len(opts.soundfonts)))]

    # 1. Stems at the model rate, each to its own loudness
    music = render_piece(piece, soundfont=soundfont, sr=opts.sr)
    sfx, effects = _render_effects(scene.events, rng, n=len(music), sr=opts.sr)
    music_target = float(rng.uniform(-24.0, -18.0))
    sfx_target = music_target + float(rng.uniform(-6.0, 6.0))
    music = to_lufs(music, opts.sr, music_target)
    sfx = to_lufs(sfx, opts.sr, sfx_target)
    mix = music + sfx
    peak = float(np.abs(mix).max())
    if peak > 0.98:  # headroom: scale both stems together, keeping their balance
        music, sfx, mix = (x * (0.98 / peak) for x in (music, sfx, mix))

    # 2. Labels (everything measured on the stems as written)
    labels = {
        "version": LABELS_VERSION,
        "index": index,
        "seed": opts.seed,
        "split": split_of(index),
        "duration": CLIP.seconds,
        "sample_rate": opts.sr,
        "tempo_bpm": piece.tempo_bpm,
        "meter": "4/4",
        "beats": [round(float(t), 4) for t in piece.beat_times()],
        "downbeats": [round(float(t), 4) for t in piece.downbeat_times()],
        "key": piece.key_name,
        "mode": piece.mode,
        "chords": [{"time": round(t, 4), "chord": c} for t, c in piece.chords if t < CLIP.seconds],
        "instruments": piece.instruments,
        "programs": {t.family: t.program for t in piece.tracks if t.program >= 0},
        "soundfont": soundfont,
        "intensity": round(piece.intensity, 3),
        "events": [dict(e.as_label(), sound=name) for e, name in zip(scene.events, effects)],
        "loudness": {"music_lufs": _round(loudness_lufs(music, opts.sr)),
                     "sfx_lufs": _round(loudness_lufs(sfx, opts.sr)),
                     "mix_lufs": _round(loudness_lufs(mix, opts.sr))},
        "video": {"fps": CLIP.video_fps, "size": CLIP.video_size,
                  "brightness": round(float(scene.palette[0][1].mean()), 4)},
    }

    # 3. Write into a temporary folder, then rename it into place
    tmp = final.parent / f".{final.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for name, audio in (("music", music), ("sfx", sfx), ("mix", mix)):
            write_wav(tmp / f"{name}.wav", audio, sr=opts.sr)
        write_video(render_frames(scene), tmp / "video.mp4", fps=CLIP.video_fps)
        (tmp / "labels.json").write_text(json.dumps(labels, indent=1))
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return labels


def _round(x: float) -> float | None:
    return round(x, 2) if np.isfinite(x) else None


def to_lufs(x: np.ndarray, sr: int, target: float) -> np.ndarray:
    current = loudness_lufs(x, sr)
    if not np.isfinite(current) or current < -70:
        return x
    return (x * 10 ** ((target - current) / 20)).astype(np.float32)


def _render_effects(events, rng: np.random.Generator, *, n: int, sr: int) -> tuple[np.ndarray, list[str]]:
    """The effects stem: one sound per event, its onset at the event's sample."""
    recordings = available_recordings()
    out = np.zeros(n, np.float32)
    names = []
    for event in events:
        effect = pick_effect(event.type, rng, recordings, sr=sr)
        gain = float(rng.uniform(0.5, 1.0))
        start = int(round(event.time * sr))
        seg = effect.audio[: max(0, n - start)]
        out[start:start + len(seg)] += gain * seg
        names.append(effect.name)
    return out, names


def _build_one(args: tuple[Path, int, BuildOptions]) -> int:
    out, index, opts = args
    build_item(out, index, opts)
    return index


def build_corpus(out: Path, *, n: int, opts: BuildOptions, workers: int = 2,
                 progress: bool = True) -> dict:
    """Build items 0..n-1 with `workers` processes; returns a summary."""
    from tqdm import tqdm

    check_soundfonts(opts.soundfonts)
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out / split).mkdir(exist_ok=True)
    todo = [i for i in range(n) if not (item_dir(out, i) / "labels.json").is_file()]
    start = time.perf_counter()
    bar = tqdm(total=n, initial=n - len(todo), unit="item", disable=not progress)
    if workers <= 1:
        for i in todo:
            _build_one((out, i, opts))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(_build_one, [(out, i, opts) for i in todo], chunksize=4):
                bar.update()
    bar.close()
    summary = {"n": n, "built": len(todo), "seconds": round(time.perf_counter() - start, 1),
               "seed": opts.seed, "soundfonts": list(opts.soundfonts),
               "splits": {s: sum(split_of(i) == s for i in range(n)) for s in SPLITS}}
    (out / "corpus.json").write_text(json.dumps(summary, indent=1))
    return summary
