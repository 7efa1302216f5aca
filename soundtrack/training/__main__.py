"""`python -m soundtrack.training STAGE --config NAME ...`: train one stage (soundtrack/training/loop.py)."""
from __future__ import annotations

import sys

from soundtrack.training.loop import main

if __name__ == "__main__":
    sys.exit(main())
