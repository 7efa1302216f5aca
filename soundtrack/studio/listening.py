"""The A/B listening tab's work: making blind pairs, voting, and the results table.

Where votes live: `StudioState.ab_db`, the SQLite file named by $SOUNDTRACK_AB_DB, else
`~/.cache/soundtrack/ab.sqlite` (kept across restarts and upgrades; the storage rules are
in soundtrack/studio/ab.py). The two videos of each pair are copied beside it, into
`<database name>-media/` (`StudioState.media_dir`), so a pair can be judged again after the
takes that made it are gone; the studio serves that folder (it goes into launch's allowed_paths).

Comparisons offered:
- "newer take vs older take": the session's last two takes of one video (a moved slider,
  another seed), each rendered already;
- "SDMA vs no-SDMA": the current settings rendered by the full model and by the
  `ldm-nosdma` ablation (offered when checkpoints/ldm-nosdma exists), same seed;
- "score engine vs neural engine": the current settings rendered by the score engine (notes
  played by sampled instruments) and by the neural one (offered when both models are
  installed), same seed.
"""
from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from soundtrack.errors import InputError
from soundtrack.pipeline import Settings
from soundtrack.studio.ab import Pair
from soundtrack.studio.state import StudioState

TAKES = "newer take vs older take"
SDMA = "SDMA vs no-SDMA"
ENGINES = "score engine vs neural engine"
COMPARISONS = {TAKES: ("newer take", "older take"), SDMA: ("full model (SDMA)", "no-SDMA ablation"),
               ENGINES: ("score engine", "neural engine")}
# a comparison of two models -> the pipeline variants (StudioState.VARIANTS) of its A and B
MODEL_PAIRS = {SDMA: ("full", "nosdma"), ENGINES: ("score", "full")}
RESULT_COLUMNS = ["comparison", "A", "B", "votes", "A wins", "B wins", "no pref.", "A win rate", "95% CI"]


def comparisons_available(state: StudioState) -> list[str]:
    """TAKES, and each comparison of two models whose models are both installed."""
    return [TAKES] + [c for c, variants in MODEL_PAIRS.items() if all(map(state.has_variant, variants))]


def _keep(state: StudioState, media: Path) -> str:
    """Copy a rendered video into the media folder under a fresh name; return that path."""
    out = state.media_dir
    out.mkdir(parents=True, exist_ok=True)
    dest = out / f"{uuid.uuid4().hex}{media.suffix}"
    shutil.copyfile(media, dest)
    return str(dest)


def pair_from_takes(state: StudioState, session) -> Pair:
    """A blind pair of the session's last two takes (same video)."""
    takes = [t for t in session.takes if session.last_take and t.video == session.last_take.video]
    if len(takes) < 2:
        raise InputError("make two takes of the same video first (Generate, then move a control or roll the "
                         "dice), or choose another comparison")
    new, old = takes[-1], takes[-2]
    a_label, b_label = COMPARISONS[TAKES]
    return state.store().create_pair(
        TAKES, a_label=a_label, b_label=b_label, a_media=_keep(state, new.files["soundtrack.mp4"]),
        b_media=_keep(state, old.files["soundtrack.mp4"]), video=new.video.name,
        a_settings={**new.settings.to_dict(), "take": new.number},
        b_settings={**old.settings.to_dict(), "take": old.number})


def pair_from_models(state: StudioState, video: Path, settings: Settings, work: Path,
                     on_progress: Callable[[float, str], None] | None = None, *,
                     comparison: str = SDMA) -> Pair:
    """A blind pair of `video` rendered with the same settings and seed by the two models of
    `comparison` (MODEL_PAIRS: the full model and its no-SDMA ablation, or the two engines)."""
    from soundtrack.models.checkpoint import FOLDERS
    from soundtrack.output import write_take
    from soundtrack.studio.state import VARIANTS

    if comparison not in MODEL_PAIRS:
        raise InputError(f"comparison must be one of {', '.join(MODEL_PAIRS)}, got {comparison!r}")
    missing = [v for v in MODEL_PAIRS[comparison] if not state.has_variant(v)]
    if missing:
        raise InputError(f"{comparison} needs both models; not installed: "
                         f"{', '.join(f'checkpoints/{FOLDERS[VARIANTS[v]]}' for v in missing)}")
    media, models = {}, {}
    try:
        for k, variant in enumerate(MODEL_PAIRS[comparison]):
            pipe = state.pipeline(variant)

            def step(p: float, k: int = k) -> None:
                if on_progress is not None:
                    on_progress((k + p) / 2, f"rendering with the {COMPARISONS[comparison][k]} ({k + 1}/2)")

            take = pipe(video, settings, on_step=step)
            media[variant] = _keep(state, write_take(take, work / variant, video=video)["soundtrack.mp4"])
            models[variant] = {"model": state.model_names(variant)["ldm"], "engine": pipe.engine}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a, b = MODEL_PAIRS[comparison]
    a_label, b_label = COMPARISONS[comparison]
    return state.store().create_pair(comparison, a_label=a_label, b_label=b_label, a_media=media[a],
                                     b_media=media[b], video=Path(video).name,
                                     a_settings={**settings.to_dict(), **models[a]},
                                     b_settings={**settings.to_dict(), **models[b]})


def next_pair(state: StudioState, voter: str) -> Pair | None:
    """The oldest pair this voter has not judged whose videos still exist."""
    for pair in state.store().pairs(unvoted_by=voter):
        if Path(pair.a_media).is_file() and Path(pair.b_media).is_file():
            return pair
    return None


def result_rows(state: StudioState) -> list[list]:
    """The results table: one row per comparison, win rate of A with its Wilson 95% interval."""
    rows = []
    for r in state.store().results():
        rate = "n/a" if r.win_rate_a is None else f"{100 * r.win_rate_a:.0f}%"
        ci = "n/a" if r.win_rate_a is None else f"{100 * r.ci_low:.0f}-{100 * r.ci_high:.0f}%"
        rows.append([r.comparison, r.a_label, r.b_label, r.votes, r.wins_a, r.wins_b, r.ties, rate, ci])
    return rows


def export_csv(state: StudioState, dest_dir: Path) -> Path:
    """Every vote as CSV (ABStore.export_csv) in a fresh file under dest_dir."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / "ab-votes.csv"
    state.store().export_csv(path)
    return path


__all__ = ["COMPARISONS", "ENGINES", "MODEL_PAIRS", "RESULT_COLUMNS", "SDMA", "TAKES",
           "comparisons_available", "export_csv", "next_pair", "pair_from_models", "pair_from_takes",
           "result_rows"]
