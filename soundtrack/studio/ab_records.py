"""What the A/B store holds and accepts: its records (:class:`Pair`, :class:`ComparisonResult`), the
Wilson interval of a win rate, the limits and checks of what a caller passes in, and the schema.

The store itself (connections, writes, recovery, CSV) is soundtrack/studio/ab.py, which
re-exports the public names here.
"""
from __future__ import annotations

import math
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from soundtrack.errors import InputError

CHOICES = ("X", "Y", "none")
MAX_COMMENT = 2000  # characters
MAX_NAME = 200  # characters, for comparison names, labels, voter ids
MAX_PATH = 4096  # characters, for media and video paths
BUSY_TIMEOUT_S = 30.0
Z95 = 1.959963984540054  # standard normal quantile at 0.975

Side = Literal["A", "B"]
Choice = Literal["X", "Y", "none"]

CSV_COLUMNS = ("vote_id", "voted_at", "revisions", "voter", "comparison", "a_label", "b_label",
               "pair_id", "video", "x_is", "choice", "preferred", "preferred_label", "comment",
               "a_media", "b_media", "a_settings", "b_settings")


def wilson_interval(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion wins/n (95% for the default z).

    n = 0 carries no information and gives (0.0, 1.0). Wilson (1927); unlike the normal
    approximation it stays inside [0, 1] and behaves at 0/n and n/n.
    """
    if not (0 <= wins <= n):
        raise ValueError(f"need 0 <= wins <= n, got wins={wins} n={n}")
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Pair:
    """One trial: a video under conditions A and B, shown blind as X (left) and Y (right)."""

    id: int
    comparison: str
    video: str
    a_label: str
    b_label: str
    a_media: str
    b_media: str
    a_settings: dict
    b_settings: dict
    x_is: Side  # which condition is shown as X
    created_at: str

    @property
    def x_media(self) -> str:
        return self.a_media if self.x_is == "A" else self.b_media

    @property
    def y_media(self) -> str:
        return self.b_media if self.x_is == "A" else self.a_media

    @property
    def x_label(self) -> str:
        return self.a_label if self.x_is == "A" else self.b_label

    @property
    def y_label(self) -> str:
        return self.b_label if self.x_is == "A" else self.a_label

    def choice_for(self, side: Side) -> Choice:
        """The blind choice ("X"/"Y") that prefers condition `side` ("A"/"B")."""
        if side not in ("A", "B"):
            raise ValueError(f"side must be 'A' or 'B', got {side!r}")
        return "X" if side == self.x_is else "Y"

    def side_of(self, choice: Choice) -> Side | Literal["none"]:
        """The condition ("A"/"B", or "none") that a blind choice prefers."""
        if choice == "none":
            return "none"
        if choice not in ("X", "Y"):
            raise ValueError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
        return self.x_is if choice == "X" else ("B" if self.x_is == "A" else "A")


@dataclass(frozen=True)
class ComparisonResult:
    """Votes on one comparison, counted by condition.

    `win_rate_a` = wins_a / (wins_a + wins_b): ties ("none") excluded, and the Wilson 95%
    interval (`ci_low`, `ci_high`) is for this rate; it is None without decisive votes.
    `score_a` = (wins_a + ties / 2) / votes counts a tie as half a win; None without votes.
    """

    comparison: str
    a_label: str
    b_label: str
    pairs: int
    votes: int
    wins_a: int
    wins_b: int
    ties: int
    win_rate_a: float | None
    ci_low: float
    ci_high: float
    score_a: float | None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name(value: object, *, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} must be a non-empty text")
    value = value.strip()
    if len(value) > MAX_NAME:
        raise InputError(f"{what} is {len(value)} characters; the limit is {MAX_NAME}")
    return value


def _path(value: object, *, what: str) -> str:
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{what} must be a non-empty path")
    if len(text) > MAX_PATH:
        raise InputError(f"{what} is {len(text)} characters; the limit is {MAX_PATH}")
    return text


def _as_id(value: object, *, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise InputError(f"{what} must be a whole number, got {_one_line(repr(value), 60)}")


# --- schema -------------------------------------------------------------------------------

def _schema_v1(conn: sqlite3.Connection) -> None:
    for statement in (
        """CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            a_label TEXT NOT NULL,
            b_label TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE pairs (
            id INTEGER PRIMARY KEY,
            comparison_id INTEGER NOT NULL REFERENCES comparisons(id),
            video TEXT NOT NULL,
            a_media TEXT NOT NULL,
            b_media TEXT NOT NULL,
            a_settings TEXT NOT NULL,  -- JSON object
            b_settings TEXT NOT NULL,  -- JSON object
            x_is TEXT NOT NULL CHECK (x_is IN ('A', 'B')),
            created_at TEXT NOT NULL)""",
        "CREATE INDEX pairs_by_comparison ON pairs(comparison_id)",
        """CREATE TABLE votes (
            id INTEGER PRIMARY KEY,
            pair_id INTEGER NOT NULL REFERENCES pairs(id),
            voter TEXT NOT NULL,  -- '' = anonymous
            choice TEXT NOT NULL CHECK (choice IN ('X', 'Y', 'none')),
            comment TEXT NOT NULL,
            voted_at TEXT NOT NULL,
            revisions INTEGER NOT NULL DEFAULT 0)""",
        # A named voter has one standing vote per pair; anonymous votes are all kept.
        "CREATE UNIQUE INDEX one_vote_per_voter ON votes(pair_id, voter) WHERE voter != ''",
        # Each vote resolved to the condition it prefers.
        """CREATE VIEW resolved_votes AS
            SELECT v.*, p.comparison_id, p.x_is,
                   CASE WHEN v.choice = 'none' THEN 'none'
                        WHEN (v.choice = 'X') = (p.x_is = 'A') THEN 'A'
                        ELSE 'B' END AS preferred
            FROM votes v JOIN pairs p ON p.id = v.pair_id""",
    ):
        conn.execute(statement)


__all__ = ["CHOICES", "CSV_COLUMNS", "MAX_COMMENT", "MAX_NAME", "MAX_PATH", "Choice", "ComparisonResult",
           "Pair", "Side", "wilson_interval"]
