"""Is the music continuous across windows? `python -m soundtrack.evaluation.windows --corpus corpus`.

A video longer than 10.24 s is generated in windows with a 2.56 s overlap, each window
holding the overlap at the previous window's latent (outpainting, docs/method/snio.md §4).
This command makes long videos from consecutive test-split clips (three clips, 30.72 s,
four windows), generates each twice with the same seed and settings: as shipped, and with
every window sampled on its own (`SamplerConfig(outpaint=False)`, joined by the same
crossfade), and measures the music stem as a listener's tools would:

- tempo: librosa's estimate within +-4 % of the request, on the whole stem and on each
  window's span (issue 4: "the music stays continuous and on tempo across windows");
- the beat: the share of librosa's tracked beats within +-70 ms of the requested grid, over
  the whole stem and inside the overlaps, where the windows are crossfaded;
- instrumentation across a seam: the independent instrument judge on the 2.56 s before an
  overlap and on the 2.56 s after it (each inside one window only); the mean absolute
  difference of its ten family probabilities, and how many family decisions (p >= 0.5)
  change. Music that goes on is played by the same instruments on both sides. The
  reference is the same comparison inside the first window, which is one sample: its
  first 2.56 s against its 5.12-7.68 s.

Prints a Markdown table (with paired 95 % intervals, shipped minus independent windows) and
writes it into docs/RESULTS.md between `<!-- windows:begin -->` and `<!-- windows:end -->`
when `--results-md` is given.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from soundtrack.config import AUDIO
from soundtrack.errors import InputError
from soundtrack.evaluation.bootstrap import format_interval, paired_rows

CLIPS_PER_VIDEO = 3
TEMPOS = (70.0, 85.0, 100.0, 115.0, 130.0, 145.0, 160.0, 175.0)
BEAT_TOLERANCE_S = 0.07
SIDE_S = 2.56  # judged audio on each side of an overlap, as long as the overlap
MIN_SPAN_S = 5.0  # a window's span shorter than this (the video's end) gets no tempo verdict
KEYS = ("tempo_whole", "tempo_windows", "beats_on_grid", "beats_on_grid_overlaps", "seam_prob_change",
        "within_prob_change", "seam_family_flips", "within_family_flips")
BEGIN, END = "<!-- windows:begin -->", "<!-- windows:end -->"


def concat_videos(clips: list[Path], out: Path) -> Path:
    """The clips one after the other (ffmpeg's concat demuxer, streams copied: same encoding)."""
    import imageio_ffmpeg

    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{c.resolve()}'\n" for c in clips))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-c", "copy", str(out)], check=True)
    return out


def on_grid(beats: np.ndarray, grid_beats: np.ndarray, tol: float = BEAT_TOLERANCE_S) -> np.ndarray:
    """For each tracked beat, whether a beat of the requested grid lies within +-tol seconds."""
    beats = np.asarray(beats, float)
    if not len(grid_beats):
        return np.zeros(len(beats), bool)
    return np.abs(beats[:, None] - np.asarray(grid_beats, float)[None, :]).min(1) <= tol


def seam_change(probs_before: np.ndarray, probs_after: np.ndarray) -> tuple[float, int]:
    """(mean |p_before - p_after| over the families, family decisions that flip) at one seam."""
    a, b = np.asarray(probs_before, float), np.asarray(probs_after, float)
    return float(np.abs(a - b).mean()), int(((a >= 0.5) != (b >= 0.5)).sum())


def measure(music16: np.ndarray, *, tempo_bpm: float, grid_beats: np.ndarray,
            windows: list[tuple[float, float]], overlaps: list[tuple[float, float]], judge) -> dict:
    """The continuity measures of one music stem (16 kHz mono).

    windows: each window's (start, end) in seconds, cut at the stem's end; overlaps: each
    overlap's (start, end). judge: the instrument judge (or None: no seam measures).
    """
    import torch

    from soundtrack.audio.mel import MelSpectrogram
    from soundtrack.audio.tempo import measure_tempo, tempo_correct, tempo_estimate
    from soundtrack.models.instruments import instrument_probs

    sr = AUDIO.sample_rate
    duration = len(music16) / sr
    out: dict = {}
    out["tempo_measured"], beats = measure_tempo(music16)  # librosa's estimate and tracked beats
    out["tempo_whole"] = float(tempo_correct(out["tempo_measured"], tempo_bpm)[0])
    spans = [(a, b) for a, b in windows if b - a >= MIN_SPAN_S]
    per_window = [tempo_estimate(music16[int(a * sr):int(b * sr)], sr) for a, b in spans]
    out["tempo_per_window"] = per_window
    out["tempo_windows"] = float(np.mean([tempo_correct(t, tempo_bpm)[0] for t in per_window]))
    hit = on_grid(beats, grid_beats)
    inside = np.zeros(len(beats), bool)
    for a, b in overlaps:
        inside |= (beats >= a) & (beats < b)
    out["beats_on_grid"] = float(hit.mean()) if len(hit) else 0.0
    out["beats_on_grid_overlaps"] = float(hit[inside].mean()) if inside.any() else float("nan")
    if judge is not None:
        mel = MelSpectrogram(AUDIO)

        def change(first: tuple[float, float], second: tuple[float, float]) -> tuple[float, int] | None:
            parts = [music16[int(a * sr):int(min(duration, b) * sr)] for a, b in (first, second)]
            if min(len(x) for x in parts) < int(SIDE_S * sr):
                return None
            probs = [instrument_probs(judge, mel(torch.from_numpy(np.ascontiguousarray(x)).float()))[0]
                     for x in parts]
            return seam_change(probs[0].numpy(), probs[1].numpy())

        # across each seam: the 2.56 s before the overlap (the earlier window only) and after it
        seams = [c for a, b in overlaps if (c := change((a - SIDE_S, a), (b, b + SIDE_S))) is not None]
        # the reference: the same geometry inside the first window, which is one sample
        within = change((0.0, SIDE_S), (2 * SIDE_S, 3 * SIDE_S))
        out["seam_prob_change"] = float(np.mean([c for c, _ in seams])) if seams else float("nan")
        out["seam_family_flips"] = float(np.mean([f for _, f in seams])) if seams else float("nan")
        out["within_prob_change"], out["within_family_flips"] = within or (float("nan"), float("nan"))
    return out


def continuity_rates(rows: list[dict]) -> dict[str, float]:
    """The mean of each continuity measure over the videos that have it (NaN where none has)."""
    def mean(k: str) -> float:
        v = [r[k] for r in rows if k in r and np.isfinite(r[k])]
        return float(np.mean(v)) if v else float("nan")

    return {k: mean(k) for k in KEYS}


def long_videos(corpus: Path, n: int, out_dir: Path) -> list[Path]:
    """n videos of CLIPS_PER_VIDEO consecutive test-split clips each."""
    clips = sorted((corpus / "test").glob("*/video.mp4"))
    if len(clips) < n * CLIPS_PER_VIDEO:
        raise InputError(f"{corpus}/test has {len(clips)} clips; {n} videos need {n * CLIPS_PER_VIDEO}")
    return [concat_videos(clips[i * CLIPS_PER_VIDEO:(i + 1) * CLIPS_PER_VIDEO], out_dir / f"long-{i:02d}.mp4")
            for i in range(n)]


def evaluate_windows(*, corpus: Path, n: int = 8, checkpoints: Path | None = None, seed: int = 0,
                     progress: bool = True, hold_until: float | None = None) -> dict:
    """n long videos generated outpainted (as shipped, or holding the overlap for `hold_until`
    of the steps) and window by window, and measured (module docstring)."""
    from tqdm import tqdm

    from soundtrack.config import CLIP, TIMING, GenerationConfig, SamplerConfig
    from soundtrack.evaluation.controls import INSTRUMENT_SETS
    from soundtrack.evaluation.metrics import load_judge
    from soundtrack.music.beatgrid import BeatGrid
    from soundtrack.pipeline import Settings, SoundtrackPipeline, load_bundled

    models = load_bundled(checkpoints)
    held = SamplerConfig() if hold_until is None else SamplerConfig(hold_until=hold_until)
    alone = SamplerConfig(outpaint=False)
    pipes = {"outpainted": SoundtrackPipeline(models, GenerationConfig(sampler=held)),
             "independent": SoundtrackPipeline(models, GenerationConfig(sampler=alone))}
    judge = load_judge(checkpoints)
    overlap_s = TIMING.overlap_frames / TIMING.latent_fps
    rows: dict[str, list[dict]] = {k: [] for k in pipes}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="soundtrack-windows-") as tmp:
        videos = long_videos(corpus, n, Path(tmp))
        for i, video in enumerate(tqdm(videos, desc="windows", unit="video", disable=not progress)):
            tempo, inst = TEMPOS[i % len(TEMPOS)], INSTRUMENT_SETS[i % len(INSTRUMENT_SETS)]
            settings = Settings(tempo=tempo, instruments={f: 1.0 for f in inst}, seed=seed + i)
            for name, pipe in pipes.items():
                plan = pipe.plan(video)
                take = pipe(video, settings)
                dur = plan.duration_s
                windows = [(w.start_s, min(dur, w.start_s + CLIP.seconds)) for w in plan.windows]
                overlaps = [(w.start_s, w.start_s + overlap_s) for w in plan.windows[1:]]
                grid = BeatGrid.from_dict(take.report["beat_grid"]).beats_between(0.0, dur)
                first = i * CLIPS_PER_VIDEO
                rows[name].append({"video": f"test clips {first}-{first + CLIPS_PER_VIDEO - 1}",
                                   "duration_s": dur, "windows": len(windows), "tempo": tempo,
                                   "instruments": list(inst), "seed": seed + i,
                                   **measure(take.music16, tempo_bpm=tempo, grid_beats=grid, windows=windows,
                                             overlaps=overlaps, judge=judge)})
    paired = paired_rows(rows["outpainted"], rows["independent"], continuity_rates, KEYS)
    return {"summary": {k: {"n": len(v), **continuity_rates(v)} for k, v in rows.items()}, "paired": paired,
            "hold_until": pipes["outpainted"].config.sampler.hold_until,
            "rows": rows, "seconds": time.perf_counter() - t0, "judge": judge is not None}


def markdown(result: dict) -> str:
    def f(x: float) -> str:
        return "—" if x is None or not np.isfinite(x) else f"{x:.3f}"

    head = ("| windows | videos | tempo ±4 %, whole | tempo ±4 %, each window | beats on the grid | "
            "beats on the grid, in overlaps | judge change across a seam | the same inside window 1 | "
            "family decisions changed per seam | the same inside window 1 |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    names = {"outpainted": "outpainted (shipped)", "independent": "each window on its own"}
    lines = [head]
    for k, s in result["summary"].items():
        lines.append(f"| {names[k]} | {s['n']} | " + " | ".join(f(s[m]) for m in KEYS) + " |")
    paired = "; ".join(f"{m.replace('_', ' ')} {format_interval(c)}" for m, c in result["paired"].items())
    return "\n".join(lines) + ("\n\nOutpainted minus independent on the same videos and seeds, with the 95 % "
                               "interval of a paired bootstrap over the videos (2,000 draws; * where it "
                               f"excludes 0): {paired}.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m soundtrack.evaluation.windows")
    p.add_argument("--corpus", type=Path, default=Path("corpus"))
    p.add_argument("--n", type=int, default=8, help="long videos, each of three consecutive test clips")
    p.add_argument("--checkpoints", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hold-until", type=float, default=None,
                   help="share of the steps that hold the overlap (default: the pipeline's, 0.5; "
                        "1 = every step)")
    p.add_argument("--json", type=Path)
    p.add_argument("--results-md", type=Path)
    args = p.parse_args(argv)
    try:
        if args.n < 2:
            raise InputError(f"--n must be at least 2 (a paired interval needs two videos), got {args.n}")
        result = evaluate_windows(corpus=args.corpus, n=args.n, checkpoints=args.checkpoints, seed=args.seed,
                                  hold_until=args.hold_until)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from soundtrack.evaluation.report import publish

    publish(result, markdown(result), json_path=args.json, results_md=args.results_md,
            module="soundtrack.evaluation.windows", argv=argv, heading="Continuity across windows",
            detail=f"{result['summary']['outpainted']['n']} videos of 30.72 s x 2, {result['seconds']:.0f} s",
            begin=BEGIN, end=END)
    return 0


__all__ = ["CLIPS_PER_VIDEO", "KEYS", "TEMPOS", "concat_videos", "continuity_rates", "evaluate_windows",
           "long_videos", "markdown", "measure", "on_grid", "seam_change"]

if __name__ == "__main__":
    sys.exit(main())
