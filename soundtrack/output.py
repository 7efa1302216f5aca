"""A take on disk: the stems, the mix, the video with its new soundtrack, a picture, a report.

    paths = write_take(take, "out/", video="clip.mp4")
    # out/music.wav out/sfx.wav out/mix.wav (48 kHz stereo), out/soundtrack.mp4,
    # out/spectrogram.png, out/report.json, with the score engine out/music.mid, and with the video's
    # own sound kept out/original.wav (as mixed under the soundtrack)

Everything is written into a hidden temporary folder beside `out/` first and moved in file
by file (each move atomic) only when all of it exists, so a failure leaves nothing
half-written in `out/`.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from soundtrack.audio.tempo import measure_tempo
from soundtrack.errors import InputError
from soundtrack.pipeline.take import Take
from soundtrack.plots import spectrogram_png

OUTPUT_FILES = ("music.wav", "sfx.wav", "mix.wav", "soundtrack.mp4", "spectrogram.png", "report.json")


def take_files(*, notes: bool, original: bool = False) -> list[str]:
    """The files of a take, in the order written: OUTPUT_FILES, original.wav (after the stems) when
    the video's own sound is kept (the stems stay the soundtrack's), and music.mid when the take has
    notes (the score engine)."""
    files = list(OUTPUT_FILES)
    if original:
        files.insert(3, "original.wav")
    if notes:
        files.insert(3, "music.mid")
    return files


def write_take(take: Take, out_dir: Path | str, *, video: Path | str) -> dict[str, Path]:
    """Write the output files of a take into `out_dir` (created if missing): OUTPUT_FILES, and
    `music.mid` (its notes for a DAW) when the take has a score."""
    from soundtrack.audio.io import write_wav
    from soundtrack.video.mux import mux  # looked up at call time: tests make it fail

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        # 1. Stems and mix, 48 kHz stereo 16-bit
        mix = take.mix
        stems = [("music", mix.music), ("sfx", mix.sfx), ("mix", mix.mix)]
        if take.original48 is not None:  # the video's own sound as mixed: mix = music + sfx + original
            stems.append(("original", mix.mix - mix.music - mix.sfx))
        for name, audio in stems:
            write_wav(tmp / f"{name}.wav", audio, sr=mix.sr)
        # 2. The video with the mix as its soundtrack, exactly the video's length
        mux(video, tmp / "mix.wav", tmp / "soundtrack.mp4", duration_s=take.duration_s)
        # 3. Tempo measured on the music stem, and the picture
        tempo, beats = measure_tempo(take.music16)
        grid_beats = take.grid.beats_between(0.0, take.duration_s)
        spectrogram_png(tmp / "spectrogram.png", music16=take.music16, sfx16=take.sfx16,
                        mix16=take.music16 + take.sfx16, events=take.events, beats=beats, grid_beats=grid_beats,
                        title=f"requested {take.tempo_bpm:.0f} BPM, measured {tempo:.0f} BPM", score=take.score)
        # 4. The notes for a DAW (score engine), and the report
        files = take_files(notes=take.score is not None, original=take.original48 is not None)
        if take.score is not None:
            from soundtrack.render.midi import write_midi

            write_midi(take.score, tmp / "music.mid")
        report = dict(take.report)
        report["tempo_measured_bpm"] = tempo
        report["beats_s"] = [round(float(b), 4) for b in beats]
        report["files"] = files
        report["timings_s"] = {**report["timings_s"], "write": time.perf_counter() - t0}
        (tmp / "report.json").write_text(json.dumps(report, indent=1, default=_jsonable))
        # 5. Move in, file by file (os.replace is atomic on one file system)
        out.mkdir(exist_ok=True)
        paths = {}
        for name in files:
            (tmp / name).replace(out / name)
            paths[name] = out / name
        return paths
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _jsonable(x: object) -> object:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


__all__ = ["OUTPUT_FILES", "take_files", "write_take"]
