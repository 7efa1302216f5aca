"""The A/B listening tab's work: making blind pairs, voting, and the results table.

Where votes live: the SQLite file named by $SOUNDTRACK_AB_DB, else
`~/.cache/soundtrack/ab.sqlite` (kept across restarts and upgrades; the storage rules are
in soundtrack/studio/ab.py). The two videos of each pair are copied beside it, into
`<database name>-media/`, so a pair can be judged again after the takes that made it are
gone; the studio serves that folder (:func:`media_dir` goes into launch's allowed_paths).

Comparisons offered:
- "newer take vs older take": the session's last two takes of one video (a moved slider,
  another seed), each rendered already;
- "SDMA vs no-SDMA": the current settings rendered by the full model and by the
  `ldm-nosdma` ablation (offered when checkpoints/ldm-nosdma exists), same seed.
"""
from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from soundtrack.errors import InputError
from soundtrack.pipeline import Settings
from soundtrack.studio.ab import ABStore, Pair

AB_DB_ENV = "SOUNDTRACK_AB_DB"
TAKES = "newer take vs older take"
SDMA = "SDMA vs no-SDMA"
COMPARISONS = {TAKES: ("newer take", "older take"), SDMA: ("full model (SDMA)", "no-SDMA ablation")}
RESULT_COLUMNS = ["comparison", "A", "B", "votes", "A wins", "B wins", "no pref.", "A win rate", "95% CI"]


def db_path() -> Path:
    return Path(os.environ.get(AB_DB_ENV) or Path.home() / ".cache" / "soundtrack" / "ab.sqlite").expanduser()


def media_dir() -> Path:
    path = db_path()
    return path.with_name(f"{path.stem}-media")


_STORES: dict[Path, ABStore] = {}
_STORES_LOCK = threading.Lock()


def get_store() -> ABStore:
    """The process's store (one per database path; ABStore is safe to share between threads)."""
    path = db_path()
    with _STORES_LOCK:
        if path not in _STORES:
            path.parent.mkdir(parents=True, exist_ok=True)
            _STORES[path] = ABStore(path)
        return _STORES[path]


def comparisons_available() -> list[str]:
    from soundtrack.studio.live import has_variant

    return [TAKES] + ([SDMA] if has_variant("nosdma") else [])


def _keep(media: Path) -> str:
    """Copy a rendered video into the media folder under a fresh name; return that path."""
    out = media_dir()
    out.mkdir(parents=True, exist_ok=True)
    dest = out / f"{uuid.uuid4().hex}{media.suffix}"
    shutil.copyfile(media, dest)
    return str(dest)


def pair_from_takes(session) -> Pair:
    """A blind pair of the session's last two takes (same video)."""
    takes = [t for t in session.takes if session.last_take and t.video == session.last_take.video]
    if len(takes) < 2:
        raise InputError("make two takes of the same video first (Generate, then move a control or roll the "
                         "dice), or choose another comparison")
    new, old = takes[-1], takes[-2]
    a_label, b_label = COMPARISONS[TAKES]
    return get_store().create_pair(
        TAKES, a_label=a_label, b_label=b_label, a_media=_keep(new.files["soundtrack.mp4"]),
        b_media=_keep(old.files["soundtrack.mp4"]), video=new.video.name,
        a_settings={**new.settings.to_dict(), "take": new.number},
        b_settings={**old.settings.to_dict(), "take": old.number})


def pair_from_models(video: Path, settings: Settings, work: Path,
                     on_progress: Callable[[float, str], None] | None = None) -> Pair:
    """A blind pair of `video` rendered by the full model and by the no-SDMA ablation."""
    from soundtrack.output import write_take
    from soundtrack.studio.live import get_pipeline, has_variant

    if not has_variant("nosdma"):
        raise InputError("the no-SDMA ablation is not installed (checkpoints/ldm-nosdma)")
    media = {}
    try:
        for k, variant in enumerate(("full", "nosdma")):
            pipe = get_pipeline(variant)

            def step(p: float, k: int = k) -> None:
                if on_progress is not None:
                    on_progress((k + p) / 2, f"rendering with the {COMPARISONS[SDMA][k]} ({k + 1}/2)")

            take = pipe(video, settings, on_step=step)
            media[variant] = _keep(write_take(take, work / variant, video=video)["soundtrack.mp4"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a_label, b_label = COMPARISONS[SDMA]
    return get_store().create_pair(SDMA, a_label=a_label, b_label=b_label, a_media=media["full"],
                                   b_media=media["nosdma"], video=Path(video).name,
                                   a_settings={**settings.to_dict(), "model": "ldm"},
                                   b_settings={**settings.to_dict(), "model": "ldm-nosdma"})


def next_pair(voter: str) -> Pair | None:
    """The oldest pair this voter has not judged whose videos still exist."""
    for pair in get_store().pairs(unvoted_by=voter):
        if Path(pair.a_media).is_file() and Path(pair.b_media).is_file():
            return pair
    return None


def result_rows() -> list[list]:
    """The results table: one row per comparison, win rate of A with its Wilson 95% interval."""
    rows = []
    for r in get_store().results():
        rate = "n/a" if r.win_rate_a is None else f"{100 * r.win_rate_a:.0f}%"
        ci = "n/a" if r.win_rate_a is None else f"{100 * r.ci_low:.0f}-{100 * r.ci_high:.0f}%"
        rows.append([r.comparison, r.a_label, r.b_label, r.votes, r.wins_a, r.wins_b, r.ties, rate, ci])
    return rows


def export_csv(dest_dir: Path) -> Path:
    """Every vote as CSV (ABStore.export_csv) in a fresh file under dest_dir."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / "ab-votes.csv"
    get_store().export_csv(path)
    return path


__all__ = ["AB_DB_ENV", "COMPARISONS", "RESULT_COLUMNS", "SDMA", "TAKES", "comparisons_available", "db_path",
           "export_csv", "get_store", "media_dir", "next_pair", "pair_from_models", "pair_from_takes",
           "result_rows"]
