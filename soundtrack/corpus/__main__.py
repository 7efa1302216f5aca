"""`python -m soundtrack.corpus build|verify|cache|rerender` (see docs/DATA.md)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from soundtrack.errors import InputError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soundtrack.corpus", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the procedural corpus")
    b.add_argument("--out", type=Path, required=True, help="corpus folder")
    b.add_argument("--n", type=int, required=True, help="number of items")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--workers", type=int, default=2, help="processes (default 2: both cores)")
    b.add_argument("--soundfonts", default="timgm6mb,fluidr3",
                   help="comma-separated soundfonts to draw from (timgm6mb, fluidr3, musescore)")
    v = sub.add_parser("verify", help="check the labels with librosa and mir_eval")
    v.add_argument("root", type=Path)
    v.add_argument("--n", type=int, default=200, help="items to check")
    v.add_argument("--json", type=Path, default=None, help="also write the report here")
    c = sub.add_parser("cache", help="precompute model inputs (mels, visual features) into DIR/cache")
    c.add_argument("root", type=Path)
    c.add_argument("--part", choices=("audio", "video", "all"), default="all")
    c.add_argument("--workers", type=int, default=2)
    r = sub.add_parser("rerender", help="render a split's music again through another soundfont into "
                                        "DIR/cache (the audio of SNIO's instrument classifier)")
    r.add_argument("root", type=Path)
    r.add_argument("--soundfont", required=True, help="timgm6mb, fluidr3 or musescore")
    r.add_argument("--split", default="train")
    r.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            from soundtrack.corpus.build import BuildOptions, build_corpus

            if args.n < 1 or args.workers < 1:
                raise InputError("--n and --workers must be at least 1")
            opts = BuildOptions(seed=args.seed, soundfonts=tuple(s for s in args.soundfonts.split(",") if s))
            print(json.dumps(build_corpus(args.out, n=args.n, opts=opts, workers=args.workers)))
        elif args.command == "cache":
            from soundtrack.corpus.cache import CACHE_VERSIONS, build_cache, cache_file
            from soundtrack.corpus.build import SPLITS

            parts = list(CACHE_VERSIONS) if args.part == "all" else [args.part]
            done = [str(build_cache(args.root, split, part, workers=args.workers))
                    for split in SPLITS for part in parts if not cache_file(args.root, split, part).is_file()]
            print(json.dumps({"built": done}))
        elif args.command == "rerender":
            from soundtrack.corpus.rerender import build_rerender

            if not (args.root / args.split).is_dir():
                raise InputError(f"no split {args.split!r} in {args.root}")
            print(json.dumps({"built": str(build_rerender(args.root, args.split, args.soundfont,
                                                          workers=args.workers))}))
        else:
            from soundtrack.corpus.verify import verify_corpus

            if not args.root.is_dir():
                raise InputError(f"no corpus folder at {args.root}")
            report = verify_corpus(args.root, n=args.n)
            text = json.dumps(report, indent=1)
            if args.json:
                args.json.write_text(text)
            print(text)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
