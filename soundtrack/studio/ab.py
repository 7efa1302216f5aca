"""Storage for blind A/B listening sessions: comparisons, pairs (trials) and votes in SQLite.

A *comparison* names two conditions, A and B ("full" vs "no-SDMA", "take 3" vs "take 2").
A *pair* is one trial of it: one video rendered under A and under B. The listener sees the
two renderings as "X" (left) and "Y" (right); which of A/B is X is drawn per pair
(`secrets` unless a seeded `random.Random` is passed) and stored, so a vote for X or Y maps
back to A or B. A *vote* is X, Y or "none" (no preference), with an optional comment.

    store = ABStore("runs/ab.sqlite")
    pair = store.create_pair("full vs no-SDMA", a_label="full", b_label="no-SDMA",
                             a_media="a.mp4", b_media="b.mp4", video="dog.mp4")
    store.vote(pair.id, "X", voter=session_id)     # show pair.x_media left, pair.y_media right
    store.results()                                # wins, ties, win rate of A, Wilson 95% CI

Storage rules (reasons in docs/DECISIONS.md):
- One connection per thread, opened on first use and kept (a connection per call would
  checkpoint the WAL at every close: 25 ms a vote instead of 4). Share one `ABStore`
  between threads; another process opens its own `ABStore(path)`.
- WAL journal, `synchronous=FULL`: `vote()` returns only after its transaction is committed
  and the WAL is fsynced, so an acknowledged vote survives kill -9 and power loss.
  Writes take the lock up front (`BEGIN IMMEDIATE`) and wait up to `BUSY_TIMEOUT_S` for
  other writers, threads or processes, instead of failing with "database is locked".
- The schema version is `PRAGMA user_version`; `ABStore.MIGRATIONS[i]` takes version i to
  i + 1 inside one write transaction.
- The studio keeps its store at $SOUNDTRACK_AB_DB, else `~/.cache/soundtrack/ab.sqlite`
  (soundtrack/studio/listening.py).
- A file SQLite reports as not a database or corrupt when the store opens it is moved
  aside to `<name>.corrupt-<UTC time>` (with its -wal/-shm files), untouched, and a fresh
  database starts; `store.recovered_from` holds the one-line message.
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import random
import secrets
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from soundtrack.errors import InputError
from soundtrack.studio.ab_records import (BUSY_TIMEOUT_S, CHOICES, CSV_COLUMNS, MAX_COMMENT, MAX_NAME,
                                          MAX_PATH, Choice, ComparisonResult, Pair, Side, _as_id, _name,
                                          _now, _one_line, _path, _schema_v1, wilson_interval)

log = logging.getLogger(__name__)

class _Corrupt(Exception):
    """The file is not a readable SQLite database (message: SQLite's reason, one line)."""


_CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _is_corruption(err: sqlite3.DatabaseError) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _CORRUPT_CODES


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock among processes recovering a database in `directory` (POSIX flock)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: recovery is then unguarded between processes
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- the store ----------------------------------------------------------------------------

class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced (ABStore.close() finds them through a WeakSet)."""


class ABStore:
    """Blind A/B comparisons, pairs and votes in one SQLite file; see the module docstring.

    Share one store between threads: each thread gets its own connection, opened on first
    use and kept. Other processes open their own `ABStore(path)` on the same file.
    `recovered_from` is None, or the one-line message saying a corrupt file was moved aside.
    """

    # MIGRATIONS[i] takes a database from schema version i to i + 1 (0 = empty file).
    # Append to it; never edit a released step.
    MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_schema_v1,)

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.recovered_from: str | None = None
        self._local = threading.local()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by close(): threads then open new connections
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open()
        except _Corrupt:
            self.recovered_from = self._recover()

    @property
    def schema_version(self) -> int:
        return len(self.MIGRATIONS)

    def close(self) -> None:
        """Close every thread's connection (call it when no call is in flight); the store
        stays usable and reconnects on the next call."""
        with self._lock:
            self._generation += 1
            connections, self._connections = list(self._connections), weakref.WeakSet()
        for conn in connections:
            conn.close()

    def __enter__(self) -> ABStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- connections ----------------------------------------------------------------------

    def _new_connection(self) -> _Connection:
        """A connection in autocommit mode (transactions are explicit, see `_write`)."""
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False, factory=_Connection)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous = FULL")  # per connection: fsync the WAL at each commit
        conn.execute("PRAGMA foreign_keys = ON")  # per connection too
        return conn

    def _connection(self) -> _Connection:
        """This thread's connection (a new one after fork or close())."""
        key = (os.getpid(), self._generation)
        if getattr(self._local, "key", None) != key:
            conn = self._new_connection()
            with self._lock:
                self._connections.add(conn)
            self._local.conn, self._local.key = conn, key
        return self._local.conn

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """A write transaction: takes the write lock up front, so it waits instead of failing
        (a deferred transaction upgraded from read to write can fail at once under WAL)."""
        conn = self._connection() if conn is None else conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:  # some errors have rolled it back already
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- opening, migrating, recovering -----------------------------------------------------

    def _open(self) -> None:
        """Set WAL, check integrity, migrate to the current schema; raises _Corrupt.

        Uses its own connection, closed after, so that nothing holds a corrupt file open.
        """
        try:
            with contextlib.closing(self._new_connection()) as conn:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    log.warning("%s: SQLite refused WAL mode (got %s); concurrent writers will "
                                "wait longer", self.path, mode)
                problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise _Corrupt("; ".join(problems[:3]))
                self._migrate(conn)
        except sqlite3.DatabaseError as err:
            if _is_corruption(err):
                raise _Corrupt(str(err)) from err
            raise

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._write(conn):  # read the version under the write lock: one migrator wins
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > self.schema_version:
                raise InputError(f"{self.path.name} has A/B schema version {version}; this "
                                 f"soundtrack reads up to {self.schema_version}; update it")
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise InputError(f"{self.path.name} is an SQLite database of something else, "
                                 "not an A/B store")
            for step in self.MIGRATIONS[version:]:
                step(conn)
            if version != self.schema_version:
                conn.execute(f"PRAGMA user_version = {self.schema_version:d}")

    def _recover(self) -> str | None:
        """Move the corrupt file (and its -wal/-shm) aside and start fresh; the message."""
        with _directory_lock(self.path.parent):
            try:  # another process may have recovered it while this one waited
                self._open()
                return None
            except _Corrupt as err:
                reason = str(err)
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            n = 1
            while aside.exists():
                aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
                n += 1
            # Sidecars first: a stale -wal left beside a fresh file would be replayed into it.
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.replace(side, aside.with_name(aside.name + suffix))
            os.replace(self.path, aside)
            _fsync_directory(self.path.parent)
            self._open()
        message = (f"{self.path.name} was not a readable A/B database ({_one_line(reason, 100)}); "
                   f"kept it as {aside.name} and started a fresh one")
        log.warning("%s", message)
        return message

    # -- writing --------------------------------------------------------------------------

    def create_pair(self, comparison: str, *, a_label: str, b_label: str,
                    a_media: str | os.PathLike, b_media: str | os.PathLike, video: str | os.PathLike,
                    a_settings: Mapping | None = None, b_settings: Mapping | None = None,
                    rng: random.Random | None = None) -> Pair:
        """Store one trial of `comparison` (created on first use) with X/Y drawn at random.

        A comparison keeps the labels it was created with: a pair whose labels differ (for
        instance A and B swapped) is refused, since it would count votes for the wrong side.
        `rng` (a seeded `random.Random`) makes the X/Y draw reproducible; default `secrets`.
        """
        # 1. Check inputs
        comparison = _name(comparison, what="comparison name")
        a_label = _name(a_label, what="label A")
        b_label = _name(b_label, what="label B")
        video = _path(video, what="video")
        a_path, b_path = _path(a_media, what="media A"), _path(b_media, what="media B")
        settings = [json.dumps(dict(s or {}), sort_keys=True) for s in (a_settings, b_settings)]
        # 2. Draw the blind assignment
        coin = rng.randrange(2) if rng is not None else secrets.randbelow(2)
        x_is: Side = "A" if coin == 0 else "B"
        # 3. Store
        now = _now()
        with self._write() as conn:
            row = conn.execute("SELECT id, a_label, b_label FROM comparisons WHERE name = ?",
                               (comparison,)).fetchone()
            if row is None:
                comparison_id = conn.execute(
                    "INSERT INTO comparisons (name, a_label, b_label, created_at) VALUES (?, ?, ?, ?)",
                    (comparison, a_label, b_label, now)).lastrowid
            elif (row["a_label"], row["b_label"]) != (a_label, b_label):
                raise InputError(f"comparison {comparison!r} is {row['a_label']!r} (A) vs "
                                 f"{row['b_label']!r} (B), not {a_label!r} vs {b_label!r}")
            else:
                comparison_id = row["id"]
            pair_id = conn.execute(
                "INSERT INTO pairs (comparison_id, video, a_media, b_media, a_settings, b_settings,"
                " x_is, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (comparison_id, video, a_path, b_path, *settings, x_is, now)).lastrowid
        return Pair(id=pair_id, comparison=comparison, video=video, a_label=a_label,
                    b_label=b_label, a_media=a_path, b_media=b_path,
                    a_settings=json.loads(settings[0]), b_settings=json.loads(settings[1]),
                    x_is=x_is, created_at=now)

    def vote(self, pair_id: int, choice: Choice, comment: str = "", voter: str = "") -> int:
        """Record a vote ("X", "Y" or "none") on a pair and return its id once it is durable.

        A named `voter` has one standing vote per pair: voting again replaces the choice and
        comment, keeps the vote id and counts a revision. Anonymous votes (voter "") are
        each kept. Raises InputError for an unknown pair or choice, or a comment over
        MAX_COMMENT characters.
        """
        # 1. Check inputs
        pair_id = _as_id(pair_id, what="pair id")
        if choice not in CHOICES:
            raise InputError(f"choice must be one of {', '.join(CHOICES)}; got "
                             f"{_one_line(repr(choice), 40)}")
        if not isinstance(comment, str):
            raise InputError("comment must be text")
        if len(comment) > MAX_COMMENT:
            raise InputError(f"comment is {len(comment)} characters; the limit is {MAX_COMMENT}")
        if not isinstance(voter, str):
            raise InputError("voter must be text")
        voter = voter.strip()
        if len(voter) > MAX_NAME:
            raise InputError(f"voter id is {len(voter)} characters; the limit is {MAX_NAME}")
        # 2. Store; returns after COMMIT, i.e. after the WAL is fsynced (synchronous=FULL)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM pairs WHERE id = ?", (pair_id,)).fetchone() is None:
                raise InputError(f"no A/B pair with id {pair_id}")
            (vote_id,) = conn.execute(
                "INSERT INTO votes (pair_id, voter, choice, comment, voted_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (pair_id, voter) WHERE voter != '' DO UPDATE SET"
                " choice = excluded.choice, comment = excluded.comment,"
                " voted_at = excluded.voted_at, revisions = revisions + 1"
                " RETURNING id",
                (pair_id, voter, choice, comment, _now())).fetchone()
        return vote_id

    # -- reading --------------------------------------------------------------------------

    _PAIR_QUERY = ("SELECT p.*, c.name AS comparison, c.a_label, c.b_label FROM pairs p"
                   " JOIN comparisons c ON c.id = p.comparison_id")

    @staticmethod
    def _pair(row: sqlite3.Row) -> Pair:
        return Pair(id=row["id"], comparison=row["comparison"], video=row["video"],
                    a_label=row["a_label"], b_label=row["b_label"], a_media=row["a_media"],
                    b_media=row["b_media"], a_settings=json.loads(row["a_settings"]),
                    b_settings=json.loads(row["b_settings"]), x_is=row["x_is"],
                    created_at=row["created_at"])

    def pair(self, pair_id: int) -> Pair:
        """The pair with this id; InputError if there is none."""
        pair_id = _as_id(pair_id, what="pair id")
        row = self._connection().execute(self._PAIR_QUERY + " WHERE p.id = ?", (pair_id,)).fetchone()
        if row is None:
            raise InputError(f"no A/B pair with id {pair_id}")
        return self._pair(row)

    def pairs(self, comparison: str | None = None, *, unvoted_by: str | None = None) -> list[Pair]:
        """Pairs in creation order, of one comparison or all; `unvoted_by` keeps those that
        voter has not voted on yet (the UI shuffles them for a session)."""
        query, args = self._PAIR_QUERY + " WHERE 1", []
        if comparison is not None:
            query += " AND c.name = ?"
            args.append(comparison.strip())
        if unvoted_by is not None:
            query += " AND NOT EXISTS (SELECT 1 FROM votes v WHERE v.pair_id = p.id AND v.voter = ?)"
            args.append(unvoted_by.strip())
        rows = self._connection().execute(query + " ORDER BY p.id", args).fetchall()
        return [self._pair(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """How many comparisons, pairs, votes and distinct named voters are stored."""
        row = self._connection().execute(
            "SELECT (SELECT count(*) FROM comparisons), (SELECT count(*) FROM pairs),"
            " (SELECT count(*) FROM votes),"
            " (SELECT count(DISTINCT voter) FROM votes WHERE voter != '')").fetchone()
        return dict(zip(("comparisons", "pairs", "votes", "voters"), tuple(row)))

    def results(self) -> list[ComparisonResult]:
        """One row per comparison (creation order), votes counted by the condition they prefer."""
        rows = self._connection().execute(
            "SELECT c.name, c.a_label, c.b_label,"
            " (SELECT count(*) FROM pairs p WHERE p.comparison_id = c.id) AS pairs,"
            " count(v.id) AS votes,"
            " coalesce(sum(v.preferred = 'A'), 0) AS wins_a,"
            " coalesce(sum(v.preferred = 'B'), 0) AS wins_b,"
            " coalesce(sum(v.preferred = 'none'), 0) AS ties"
            " FROM comparisons c LEFT JOIN resolved_votes v ON v.comparison_id = c.id"
            " GROUP BY c.id ORDER BY c.id").fetchall()
        out = []
        for r in rows:
            decisive = r["wins_a"] + r["wins_b"]
            lo, hi = wilson_interval(r["wins_a"], decisive)
            out.append(ComparisonResult(
                comparison=r["name"], a_label=r["a_label"], b_label=r["b_label"], pairs=r["pairs"],
                votes=r["votes"], wins_a=r["wins_a"], wins_b=r["wins_b"], ties=r["ties"],
                win_rate_a=r["wins_a"] / decisive if decisive else None, ci_low=lo, ci_high=hi,
                score_a=(r["wins_a"] + r["ties"] / 2) / r["votes"] if r["votes"] else None))
        return out

    def export_csv(self, dest: str | os.PathLike | TextIO) -> int:
        """Write every vote joined with its pair and comparison as CSV; returns the row count.

        Media are given by file name only (they are in the store's media folder), never by path.

        A path is written atomically (temporary file in the same folder, fsync, rename); an
        open text file (opened with newline="") is written as is and left open.
        """
        rows = self._connection().execute(
            "SELECT v.id AS vote_id, v.voted_at, v.revisions, v.voter, c.name AS comparison,"
            " c.a_label, c.b_label, v.pair_id, p.video, v.x_is, v.choice, v.preferred,"
            " CASE v.preferred WHEN 'A' THEN c.a_label WHEN 'B' THEN c.b_label"
            "  ELSE 'none' END AS preferred_label,"
            " v.comment, p.a_media, p.b_media, p.a_settings, p.b_settings"
            " FROM resolved_votes v JOIN pairs p ON p.id = v.pair_id"
            " JOIN comparisons c ON c.id = v.comparison_id ORDER BY v.id").fetchall()
        if hasattr(dest, "write"):
            self._write_csv(dest, rows)
            return len(rows)
        dest = Path(dest)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                self._write_csv(f, rows)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_directory(dest.parent)
        return len(rows)

    @staticmethod
    def _write_csv(f: TextIO, rows: list[sqlite3.Row]) -> None:
        """Media are named by file name: the folder is the server's business, not the listener's."""
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        media = ("a_media", "b_media")
        writer.writerows(tuple(Path(r[c]).name if c in media else r[c] for c in CSV_COLUMNS) for r in rows)


__all__ = ["BUSY_TIMEOUT_S", "CHOICES", "CSV_COLUMNS", "MAX_COMMENT", "MAX_NAME", "MAX_PATH", "ABStore",
           "Choice", "ComparisonResult", "Pair", "Side", "wilson_interval"]
