"""The A/B store on real SQLite files: results, export, concurrency, kill -9, corruption."""
from __future__ import annotations

import csv
import io
import multiprocessing
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from soundtrack.errors import InputError
from soundtrack.studio.ab import MAX_COMMENT, ABStore, wilson_interval

ROOT = Path(__file__).resolve().parents[2]


def _pair(store: ABStore, *, comparison: str = "full vs no-SDMA", video: str = "dog.mp4",
          rng: random.Random | None = None, **settings):
    a, b = comparison.split(" vs ")
    return store.create_pair(comparison, a_label=a, b_label=b, a_media=f"/r/{video}.{a}.mp4",
                             b_media=f"/r/{video}.{b}.mp4", video=video,
                             a_settings=settings or None, rng=rng)


@pytest.fixture
def store(tmp_path) -> ABStore:
    with ABStore(tmp_path / "ab.sqlite") as s:
        yield s


# --- Wilson interval ----------------------------------------------------------------------

@pytest.mark.parametrize("wins, n, expected", [
    (8, 10, (0.4902, 0.9433)),
    (5, 10, (0.2366, 0.7634)),
    (0, 10, (0.0, 0.2775)),
    (10, 10, (0.7225, 1.0)),
    (60, 100, (0.5020, 0.6906)),
    (0, 0, (0.0, 1.0)),  # no decisive votes: no information
])
def test_wilson_interval_known_values(wins, n, expected):
    assert wilson_interval(wins, n) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_is_symmetric_and_checks_its_input():
    for wins in range(8):
        lo, hi = wilson_interval(wins, 7)
        lo2, hi2 = wilson_interval(7 - wins, 7)
        assert (lo, hi) == pytest.approx((1 - hi2, 1 - lo2))
    lo68, hi68 = wilson_interval(8, 10, z=1.0)
    assert 0.4902 < lo68 < hi68 < 0.9433  # a lower confidence gives a narrower interval
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


# --- storage basics -----------------------------------------------------------------------

def test_connection_settings(store):
    conn = store._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.schema_version == 1
    assert store.recovered_from is None


def test_votes_persist_across_reopening(tmp_path):
    path = tmp_path / "sub" / "ab.sqlite"  # the folder is created
    with ABStore(path) as s:
        pair = _pair(s, rng=random.Random(1), seed=7, steps=25)
        ids = [s.vote(pair.id, c, comment=f"c{i}", voter=f"v{i}") for i, c in enumerate("XY")]
    with ABStore(path) as s:
        assert s.counts() == {"comparisons": 1, "pairs": 1, "votes": 2, "voters": 2}
        again = s.pair(pair.id)
        assert again == pair and again.a_settings == {"seed": 7, "steps": 25}
        buf = io.StringIO()
        s.export_csv(buf)
        rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
        assert [int(r["vote_id"]) for r in rows] == ids
        assert [r["comment"] for r in rows] == ["c0", "c1"]


def test_blind_assignment_is_random_seedable_and_maps_back(store):
    pairs = [_pair(store, video=f"v{i}", rng=random.Random(i)) for i in range(40)]
    sides = [p.x_is for p in pairs]
    assert 10 < sides.count("A") < 30  # both orders occur
    assert sides == [_pair(store, video=f"w{i}", rng=random.Random(i)).x_is for i in range(40)]
    for p in pairs:
        x_side = p.x_is
        assert p.x_media == (p.a_media if x_side == "A" else p.b_media)
        assert {p.x_media, p.y_media} == {p.a_media, p.b_media}
        assert p.x_label == (p.a_label if x_side == "A" else p.b_label)
        assert p.side_of(p.choice_for("A")) == "A" and p.side_of(p.choice_for("B")) == "B"
        assert p.side_of("none") == "none"
    unseeded = {_pair(store, video=f"u{i}").x_is for i in range(40)}
    assert unseeded == {"A", "B"}


def test_results_for_a_known_set_of_votes(store):
    other = _pair(store, comparison="take 3 vs take 2")  # created, never voted on
    pairs = [_pair(store, video=f"v{i}", rng=random.Random(i)) for i in range(5)]
    assert {p.x_is for p in pairs} == {"A", "B"}
    # 6 votes for A, 2 for B, 2 without preference, spread over the pairs and both X/Y orders
    plan = ["A"] * 6 + ["B"] * 2 + ["none"] * 2
    for i, side in enumerate(plan):
        p = pairs[i % len(pairs)]
        store.vote(p.id, "none" if side == "none" else p.choice_for(side), voter=f"listener{i}")
    take, full = store.results()  # in creation order
    assert (full.comparison, full.a_label, full.b_label) == ("full vs no-SDMA", "full", "no-SDMA")
    assert (full.pairs, full.votes, full.wins_a, full.wins_b, full.ties) == (5, 10, 6, 2, 2)
    assert full.win_rate_a == pytest.approx(0.75)  # ties excluded
    assert full.score_a == pytest.approx(0.70)  # ties count half
    assert (full.ci_low, full.ci_high) == pytest.approx(wilson_interval(6, 8))
    assert (take.comparison, take.pairs, take.votes, take.wins_a, take.ties) == (other.comparison, 1, 0, 0, 0)
    assert take.win_rate_a is None and take.score_a is None and (take.ci_low, take.ci_high) == (0.0, 1.0)


def test_a_voter_revoting_replaces_the_vote_anonymous_votes_add_up(store):
    p = _pair(store)
    first = store.vote(p.id, p.choice_for("A"), comment="A, I think", voter="ann")
    second = store.vote(p.id, p.choice_for("B"), comment="no, B", voter="ann")
    assert first == second
    assert len({store.vote(p.id, "none"), store.vote(p.id, "none")}) == 2  # anonymous
    (r,) = store.results()
    assert (r.votes, r.wins_a, r.wins_b, r.ties) == (3, 0, 1, 2)
    buf = io.StringIO()
    store.export_csv(buf)
    ann = next(row for row in csv.DictReader(io.StringIO(buf.getvalue())) if row["voter"] == "ann")
    assert (ann["preferred"], ann["comment"], ann["revisions"]) == ("B", "no, B", "1")


def test_pairs_left_to_a_voter(store):
    p1, p2, p3 = (_pair(store, video=f"v{i}") for i in range(3))
    q = _pair(store, comparison="take 3 vs take 2")
    store.vote(p2.id, "X", voter="ann")
    assert [p.id for p in store.pairs()] == [p1.id, p2.id, p3.id, q.id]
    assert [p.id for p in store.pairs("full vs no-SDMA", unvoted_by="ann")] == [p1.id, p3.id]
    assert [p.id for p in store.pairs(unvoted_by="bob")] == [p1.id, p2.id, p3.id, q.id]


def test_export_csv_to_a_path_is_complete_and_atomic(store, tmp_path):
    p = _pair(store, seed=3)
    tricky = 'loud, "harsh"\nsecond line, ünïcode'
    store.vote(p.id, p.choice_for("B"), comment=tricky, voter="ann")
    store.vote(p.id, "none", voter="bob")
    out = tmp_path / "votes.csv"
    out.write_text("old contents")
    assert store.export_csv(out) == 2
    assert sorted(os.listdir(tmp_path)) == ["ab.sqlite", "ab.sqlite-shm", "ab.sqlite-wal", "votes.csv"]
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    ann, bob = rows
    assert ann["comparison"] == "full vs no-SDMA" and ann["pair_id"] == str(p.id)
    assert (ann["video"], ann["x_is"], ann["choice"]) == ("dog.mp4", p.x_is, p.choice_for("B"))
    assert (ann["preferred"], ann["preferred_label"], ann["comment"]) == ("B", "no-SDMA", tricky)
    assert (ann["a_media"], ann["b_media"]) == (Path(p.a_media).name, Path(p.b_media).name)  # no server paths
    assert ann["a_settings"] == '{"seed": 3}' and ann["b_settings"] == "{}"
    assert (bob["choice"], bob["preferred"], bob["preferred_label"]) == ("none", "none", "none")
    assert ann["voted_at"].endswith("+00:00")


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(choice="Z"), "choice must be one of X, Y, none"),
    (dict(choice="x"), "choice must be one of"),
    (dict(choice=None), "choice must be one of"),
    (dict(pair_id=999), "no A/B pair with id 999"),
    (dict(pair_id="two"), "pair id must be a whole number"),
    (dict(comment="x" * (MAX_COMMENT + 1)), f"comment is {MAX_COMMENT + 1} characters"),
    (dict(voter="v" * 201), "voter id is 201 characters"),
])
def test_bad_votes_raise_one_line_input_errors(store, kwargs, match):
    p = _pair(store)
    args = dict(pair_id=p.id, choice="X") | kwargs
    with pytest.raises(InputError, match=match) as info:
        store.vote(args.pop("pair_id"), args.pop("choice"), **args)
    assert "\n" not in str(info.value)
    assert store.counts()["votes"] == 0


def test_limits_are_inclusive_and_ids_may_come_as_text(store):
    p = _pair(store)
    store.vote(str(p.id), "Y", comment="x" * MAX_COMMENT)
    with pytest.raises(InputError, match="no A/B pair with id 42"):
        store.pair(42)


def test_a_comparison_keeps_its_labels(store):
    _pair(store)
    with pytest.raises(InputError, match="'full' \\(A\\) vs 'no-SDMA' \\(B\\)"):
        store.create_pair("full vs no-SDMA", a_label="no-SDMA", b_label="full",
                          a_media="a.mp4", b_media="b.mp4", video="dog.mp4")
    with pytest.raises(InputError, match="comparison name must be a non-empty text"):
        store.create_pair("  ", a_label="a", b_label="b", a_media="a", b_media="b", video="v")
    with pytest.raises(InputError, match="media B must be a non-empty path"):
        store.create_pair("x vs y", a_label="x", b_label="y", a_media="a", b_media="", video="v")
    long_path = Path("/r") / ("d" * 250) / "take.mp4"  # paths may be longer than names
    assert store.create_pair("x vs y", a_label="x", b_label="y", a_media=long_path, b_media="b",
                             video=long_path).a_media == str(long_path)
    assert store.counts()["pairs"] == 2


# --- concurrency and durability -----------------------------------------------------------

def test_writers_wait_for_a_held_lock_instead_of_failing(store):
    p = _pair(store)
    holder = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    t0 = time.monotonic()
    store.vote(p.id, "X")
    assert time.monotonic() - t0 >= 0.4
    holder.close()
    assert store.counts()["votes"] == 1


def test_concurrent_threads_count_every_vote(store):
    pairs = [_pair(store, video=f"v{i}") for i in range(4)]
    ids, errors = [], []
    lock = threading.Lock()

    def listener(t: int) -> None:
        try:
            mine = [store.vote(pairs[i % 4].id, "XY"[i % 2], voter=f"t{t}-{i}") for i in range(50)]
            mine += [store.vote(pairs[0].id, "none") for _ in range(5)]  # anonymous ones too
            with lock:
                ids.extend(mine)
        except Exception as err:  # noqa: BLE001 - any error fails the test below
            errors.append(repr(err))

    threads = [threading.Thread(target=listener, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ids) == len(set(ids)) == 8 * 55
    assert store.counts()["votes"] == 8 * 55
    assert sum(r.votes for r in store.results()) == 8 * 55


def _process_voter(path: str, pair_ids: list[int], worker: int, n: int, start, errors) -> None:
    """Votes n times from its own store once every writer is ready (also run by the parent)."""
    try:
        store = ABStore(path)
        start.wait(timeout=60)
        for i in range(n):
            store.vote(pair_ids[i % len(pair_ids)], "XY"[i % 2], voter=f"p{worker}-{i}")
    except Exception as err:  # noqa: BLE001 - reported to the parent
        errors.put(f"worker {worker}: {err!r}")


def test_concurrent_processes_count_every_vote(store):
    """Two spawned processes and this one write at once (more children only add import time)."""
    pair_ids = [_pair(store, video=f"v{i}").id for i in range(3)]
    ctx = multiprocessing.get_context("spawn")
    children, n = 2, 60
    start, errors = ctx.Barrier(children + 1), ctx.Queue()
    procs = [ctx.Process(target=_process_voter, args=(str(store.path), pair_ids, w, n, start, errors))
             for w in range(children)]
    for p in procs:
        p.start()
    _process_voter(str(store.path), pair_ids, children, n, start, errors)
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * children
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []
    voters = {r[0] for r in store._connection().execute("SELECT voter FROM votes")}
    assert voters == {f"p{w}-{i}" for w in range(children + 1) for i in range(n)}


KILL_SCRIPT = """
import sys
from soundtrack.studio.ab import ABStore
store = ABStore(sys.argv[1])
pair_id = int(sys.argv[2])
i = 0
while True:
    print(store.vote(pair_id, "XY"[i % 2], voter=f"k{i}"), flush=True)
    i += 1
"""


def test_acknowledged_votes_survive_kill_9(store):
    pair_id = _pair(store).id
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(store.path), str(pair_id)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    acked: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while len(acked) < 40:
            acked.append(int(lines.get(timeout=max(0.1, deadline - time.monotonic()))))
    except queue.Empty:
        pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # mid-loop: possibly inside a transaction
        proc.wait(timeout=10)
    assert len(acked) == 40, f"only {len(acked)} votes acknowledged; stderr: {proc.stderr.read()}"
    reader.join(timeout=10)
    while not lines.empty():  # acknowledged after the 40th, before the kill
        line = lines.get()
        if line.endswith("\n"):
            acked.append(int(line))
    assert proc.returncode == -signal.SIGKILL
    with ABStore(store.path) as reopened:
        assert reopened.recovered_from is None
        stored = {r[0] for r in reopened._connection().execute("SELECT id FROM votes")}
    assert set(acked) <= stored
    assert len(stored) - len(acked) <= 1  # at most one committed vote was not printed yet


# --- schema versions and corrupt files ----------------------------------------------------

def test_migration_hook_runs_each_step_once(tmp_path):
    path = tmp_path / "ab.sqlite"
    with ABStore(path) as s:
        s.vote(_pair(s).id, "X", voter="ann")
    calls = []

    def add_headphones(conn):
        calls.append(1)
        conn.execute("ALTER TABLE votes ADD COLUMN headphones TEXT NOT NULL DEFAULT ''")

    class ABStoreV2(ABStore):
        MIGRATIONS = ABStore.MIGRATIONS + (add_headphones,)

    for _ in range(2):
        with ABStoreV2(path) as s:
            assert s._connection().execute("PRAGMA user_version").fetchone()[0] == 2
            rows = s._connection().execute("SELECT voter, headphones FROM votes").fetchall()
            assert [tuple(r) for r in rows] == [("ann", "")]
    assert calls == [1]
    with pytest.raises(InputError, match="has A/B schema version 2; this soundtrack reads up to 1"):
        ABStore(path)


def test_an_sqlite_file_of_something_else_is_refused_not_recovered(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
    conn.close()
    with pytest.raises(InputError, match="not an A/B store"):
        ABStore(path)
    assert sorted(os.listdir(tmp_path))[0] == "other.sqlite"


def _check_recovered(path: Path, original: bytes, store: ABStore) -> None:
    (aside,) = path.parent.glob(path.name + ".corrupt-*[0-9TZ]")
    assert aside.read_bytes() == original  # kept, byte for byte
    message = store.recovered_from
    assert message is not None and "\n" not in message
    assert aside.name in message and "started a fresh one" in message
    assert store.counts() == {"comparisons": 0, "pairs": 0, "votes": 0, "voters": 0}
    store.vote(_pair(store).id, "Y", voter="ann")  # the fresh database works
    with ABStore(path) as again:
        assert again.recovered_from is None and again.counts()["votes"] == 1


def test_a_garbage_file_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "ab.sqlite"
    garbage = random.Random(0).randbytes(10_000)
    path.write_bytes(garbage)
    path.with_name("ab.sqlite-wal").write_bytes(b"stale wal")  # must not be replayed into the new file
    with caplog.at_level("WARNING", logger="soundtrack.studio.ab"), ABStore(path) as store:
        _check_recovered(path, garbage, store)
    assert store.recovered_from in caplog.text
    (wal,) = tmp_path.glob("ab.sqlite.corrupt-*-wal")  # moved beside the file it belongs to
    assert wal.read_bytes() == b"stale wal"


def test_a_truncated_database_is_moved_aside(tmp_path):
    path = tmp_path / "ab.sqlite"
    with ABStore(path) as s:
        p = _pair(s)
        for i in range(60):
            s.vote(p.id, "X", comment="c" * 2000, voter=f"v{i}")
    assert not path.with_name("ab.sqlite-wal").exists()  # the last close checkpointed it
    data = path.read_bytes()
    assert len(data) > 100_000
    path.write_bytes(data[: len(data) // 2])
    with ABStore(path) as store:
        assert "malformed" in store.recovered_from
        _check_recovered(path, data[: len(data) // 2], store)
