"""`python -m soundtrack generate VIDEO --out DIR [options]`: a soundtrack for one video.

Writes music.wav, sfx.wav, mix.wav (48 kHz stereo), soundtrack.mp4, spectrogram.png and
report.json into DIR (soundtrack/output.py); with --original keep also original.wav. Exit 0 on
success; bad input prints one line on stderr and exits 2, with nothing written into DIR.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soundtrack.config import DEFAULT_ENGINE, ENGINES
from soundtrack.errors import InputError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from soundtrack.pipeline import Settings, instruments_text

    d = Settings()
    p = _Parser(prog="python -m soundtrack generate", description=__doc__.split("\n\n")[0])
    p.add_argument("video", type=Path, help="the video file (mp4, mov, mkv, webm, avi)")
    p.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    p.add_argument("--tempo", default=str(d.tempo), help="BPM 60-180, or 'auto' from the picture (default auto)")
    p.add_argument("--instruments", default=instruments_text(d.instruments),
                   help="families, optionally weighted: piano,strings:0.5,drums (default %(default)s)")
    p.add_argument("--balance", type=float, default=d.balance,
                   help="0 music only, 0.5 equal loudness, 1 effects only (default %(default)s)")
    p.add_argument("--intensity", type=float, default=d.intensity, help="0.6-1 (default %(default)s)")
    p.add_argument("--key", default="C", help="C, C#, Db, ... (default C)")
    p.add_argument("--mode", default=d.mode, choices=("major", "minor"))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--steps", type=int, default=d.steps, help="sampler steps (default %(default)s)")
    p.add_argument("--guidance", type=float, default=d.guidance, help="CFG scale (default %(default)s)")
    p.add_argument("--snio-iters", type=int, default=d.snio_iters,
                   help="noise optimisation iterations, 0 = plain sampling (default %(default)s)")
    p.add_argument("--effects", default=d.effects, choices=("recorded", "neural"),
                   help="recorded: real recordings play the generated effects at 48 kHz; neural: the model's own "
                        "effects audio (default %(default)s)")
    p.add_argument("--original", default=d.original, choices=("replace", "keep"),
                   help="the video's own sound: replace it, or keep it under the soundtrack, which ducks where "
                        "it is loud (default %(default)s)")
    p.add_argument("--original-db", type=float, default=d.original_db,
                   help="level of the kept sound in dB, relative to its own (default %(default)s)")
    p.add_argument("--settings", type=Path, help="a settings JSON saved by the studio (overrides the options)")
    p.add_argument("--engine", default=DEFAULT_ENGINE, choices=tuple(ENGINES),
                   help="neural: the model writes the music's audio; score: it writes notes that sampled "
                        "instruments play, and music.mid is written (default %(default)s)")
    p.add_argument("--soundfont", default=None,
                   help="the score engine's instruments: fluidr3 (apt fluid-soundfont-gm) or timgm6mb "
                        "(default: fluidr3 when installed)")
    p.add_argument("--checkpoints", type=Path, default=None, help="model folder (default: the bundled checkpoints/)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def settings_from_args(args: argparse.Namespace):
    from soundtrack.pipeline import Settings, parse_instruments

    if args.settings is not None:
        from soundtrack.errors import readable_file
        from soundtrack.pipeline.settings import read_settings_json

        return read_settings_json(readable_file(args.settings, kind="settings JSON")).settings
    return Settings(tempo=args.tempo, instruments=parse_instruments(args.instruments), balance=args.balance,
                    intensity=args.intensity, key=args.key, mode=args.mode, seed=args.seed, steps=args.steps,
                    guidance=args.guidance, snio_iters=args.snio_iters, effects=args.effects,
                    original=args.original, original_db=args.original_db)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import torch

        from soundtrack.errors import readable_file
        from soundtrack.pipeline import SoundtrackPipeline
        from soundtrack.output import write_take

        # 1. Everything that can be refused is checked before any model loads
        settings = settings_from_args(args)
        readable_file(args.video, kind="video")
        if args.out.exists() and not args.out.is_dir():
            raise InputError(f"--out {args.out} exists and is not a folder")
        if args.threads is not None:
            if args.threads < 1:
                raise InputError(f"--threads must be >= 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        if settings.original == "keep":  # a missing or broken audio track is refused here, not after generating
            from soundtrack.audio.duck import load_original
            from soundtrack.video.decode import probe

            load_original(readable_file(args.video, kind="video"), duration_s=probe(args.video).duration_s)
        if args.soundfont is not None:
            from soundtrack.render.soundfonts import check_soundfonts

            check_soundfonts((args.soundfont,))
        # 2. Load, analyse, generate, write
        pipe = SoundtrackPipeline.bundled(args.checkpoints, engine=args.engine, soundfont=args.soundfont)
        plan = pipe.plan(args.video)  # refuses undecodable or over-long videos

        def progress(p: float) -> None:
            if not args.quiet:
                print(f"\rgenerating {plan.duration_s:.1f} s of soundtrack: {100 * p:5.1f}%", end="",
                      file=sys.stderr, flush=True)

        take = pipe(args.video, settings, on_step=progress)
        paths = write_take(take, args.out, video=args.video)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print("", file=sys.stderr)
    for note in take.report["notes"]:  # what the musician should know about this take, even with --quiet
        print(f"note: {note}", file=sys.stderr)
    scores = take.report["scores"]
    print(json.dumps({"out": str(args.out), "files": [p.name for p in paths.values()],
                      "seconds": round(take.report["timings_s"]["total"], 2),
                      "tempo_requested_bpm": take.tempo_bpm, "scores": scores["output"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
