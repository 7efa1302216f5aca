"""`python -m soundtrack COMMAND`: the project's commands in one place.

Commands: `generate` (a soundtrack for a video), `bench` (speed), `evaluate` (the results
table), `data` (build, cache or verify the corpus) and `train` (a training stage).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"generate": "soundtrack.cli", "bench": "soundtrack.evaluation.bench",
                "evaluate": "soundtrack.evaluation.ablations", "sweep": "soundtrack.evaluation.sweep",
                "data": "soundtrack.corpus.__main__", "train": "soundtrack.training.loop"}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m soundtrack {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
