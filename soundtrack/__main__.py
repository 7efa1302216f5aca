"""`python -m soundtrack COMMAND`: the project's commands in one place.

Commands that exist now: `data` (build or verify the corpus). The model, generation,
evaluation and benchmark commands arrive with their issues (docs/ROADMAP.md).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"data": "soundtrack.data.__main__"}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m soundtrack {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
