"""Paired differences with a bootstrap interval (docs/DECISIONS.md #34).

Two systems measured on the same items (or requests) are compared item by item: the items
are resampled with replacement, the same draw for both, and every measure is recomputed on
the draw (pooled ones, an F1 or a detection rate, are re-pooled). The evaluation reads its
ablations this way (`PAIRED`), and so do the controls and the windows tables.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from soundtrack.evaluation.metrics import pooled_f1

PAIRED = (  # (row a, row b, what a - b measures)
    ("full", "no_sdma", "SDMA"), ("full", "no_snio", "SNIO"), ("no_snio", "two_step", "joint generation"),
    ("full", "composer", "the model over its rules"))
PAIRED_METRICS = (  # (key, markdown header): the metrics with per-item values
    ("leak_music", "leak music"), ("leak_sfx", "leak sfx"), ("sync_f1", "sync F1"),
    ("tempo_acc1", "tempo acc1"), ("inst_recall", "inst recall"), ("inst_fpr", "inst FPR"),
    ("balance_db", "balance dB"), ("cvsm_video_music", "cos v-music"), ("cvsm_video_sfx", "cos v-sfx"),
    ("density_motion", "density~motion"), ("cut_accent", "cut accent"), ("cvsm_rr", "CVSM MRR"))
N_BOOT = 2000
Measure = Callable[[np.ndarray], dict]  # item indices (with repeats) -> {measure: value or None}


def paired_bootstrap(n: int, measure_a: Measure, measure_b: Measure, keys: Iterable[str], *,
                     n_boot: int = N_BOOT, seed: int = 0) -> dict[str, dict[str, float]]:
    """{key: {"diff", "lo", "hi"}}: system a minus system b on the same n items (or requests),
    with the 95 % percentile interval of a paired bootstrap: the items are resampled with
    replacement, the same draw for both. `measure_x(idx)` computes every measure on the items
    `idx`, so pooled ones (an F1, a detection rate) are re-pooled on each draw; a key missing
    (None or not finite) on either side of the full set is left out, and draws where it is
    missing are skipped."""
    def ok(v: float | None) -> bool:
        return v is not None and math.isfinite(v)

    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    every = np.arange(n)
    a, b = measure_a(every), measure_b(every)
    boots = [(measure_a(d), measure_b(d)) for d in draws]
    out = {}
    for k in keys:
        if not (ok(a.get(k)) and ok(b.get(k))):
            continue
        diffs = np.array([x[k] - y[k] for x, y in boots if ok(x[k]) and ok(y[k])])
        lo, hi = np.percentile(diffs, [2.5, 97.5]) if len(diffs) else (float("nan"), float("nan"))
        out[k] = {"diff": float(a[k] - b[k]), "lo": float(lo), "hi": float(hi)}
    return out


def paired_rows(rows_a: list, rows_b: list, rates: Callable[[list], dict], keys: Iterable[str], *,
                n_boot: int = N_BOOT, seed: int = 0) -> dict[str, dict[str, float]]:
    """:func:`paired_bootstrap` of two systems' rows for the same requests (row i of each is
    request i); rates(rows) computes every measure on a list of rows."""
    assert len(rows_a) == len(rows_b), "paired rows: one row of each system per request"
    return paired_bootstrap(len(rows_a), lambda idx: rates([rows_a[i] for i in idx]),
                            lambda idx: rates([rows_b[i] for i in idx]), keys, n_boot=n_boot, seed=seed)


def format_interval(c: dict[str, float]) -> str:
    """`+0.034* [+0.016, +0.051]`: a paired difference, starred where its interval excludes 0."""
    star = "*" if c["lo"] > 0 or c["hi"] < 0 else ""
    return f"{c['diff']:+.3f}{star} [{c['lo']:+.3f}, {c['hi']:+.3f}]"


def item_measure(items: dict) -> Measure:
    """An evaluation row's per-item values (its "items") -> a function of item indices (with
    repeats) that recomputes the row's PAIRED_METRICS on those items (None where a metric has
    no value)."""
    sync = np.asarray(items["sync"], float).reshape(-1, 3) if "sync" in items else None
    inst = np.asarray(items["inst"], float) if "inst" in items else None  # (n, 4): hits, req, false, unreq
    means = {k: np.array([np.nan if x is None else x for x in items[k]], float)
             for k, _ in PAIRED_METRICS if k in items}

    def measure(idx: np.ndarray) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            k: float(np.nanmean(v[idx])) if np.isfinite(v[idx]).any() else None for k, v in means.items()}
        if sync is not None:
            out["sync_f1"] = pooled_f1(sync[idx])
        if inst is not None:
            c = inst[idx]
            out["inst_recall"] = c[:, 0].sum() / max(c[:, 1].sum(), 1)
            out["inst_fpr"] = c[:, 2].sum() / max(c[:, 3].sum(), 1)
        return out

    return measure


def paired_differences(rows: dict[str, dict], a: str, b: str, *, n_boot: int = N_BOOT,
                       seed: int = 0) -> dict[str, dict[str, float]]:
    """{metric: {"diff", "lo", "hi"}}: row a minus row b on the same items, for the
    PAIRED_METRICS with per-item values (:func:`paired_bootstrap`)."""
    ia, ib = rows[a]["items"], rows[b]["items"]
    return paired_bootstrap(len(ia["leak_music"]), item_measure(ia), item_measure(ib),
                            [k for k, _ in PAIRED_METRICS], n_boot=n_boot, seed=seed)


__all__ = ["N_BOOT", "PAIRED", "PAIRED_METRICS", "Measure", "format_interval", "item_measure",
           "paired_bootstrap", "paired_differences", "paired_rows"]
