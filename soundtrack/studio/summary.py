"""A take in a musician's words and units: what was asked, what the take has, how far apart.

    measures = measure_take(pipe, take, report)     # tempo, hits on events, families heard
    headline, details = take_summary(record)        # a line; Markdown: a table of asked / in the take
    CURVES["balance"].value(-0.2)                   # 1.2: SNIO's balance score as dB off

The scores SNIO climbs (soundtrack/sampling/scores.py) are numbers like "balance -1.538"
that say nothing to a musician; here each is turned into what it measures: BPM off, dB
off, hits matched, families heard. The take's rows are measured on its stems (the same
stems give the same measures, so a re-mix keeps them); the score curves convert SNIO's
per-iteration scores.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from soundtrack.config import AUDIO
from soundtrack.music.families import FAMILY_NAMES

if TYPE_CHECKING:
    from soundtrack.pipeline import SoundtrackPipeline, Take
    from soundtrack.studio.session import TakeRecord

BALANCE_DB_PER_POINT = 6.0  # sampling.scores.balance_score is -|dB off| / 6 dB (snio.md eq. 6)
HEARD = 0.5  # a family is heard when the instrument classifier gives it at least this probability


@dataclass(frozen=True)
class Curve:
    """How one SNIO score is plotted: its name (the plot's label), what it measures in what unit (the
    y axis), and the conversion from SNIO's score."""

    title: str
    unit: str
    value: Callable[[float], float]


CURVES: dict[str, Curve] = {
    "tempo": Curve("Tempo", "% chance at your BPM", lambda v: 100.0 * v),
    "balance": Curve("Balance", "dB off (before the mixer)", lambda v: -BALANCE_DB_PER_POINT * v),
    "sync": Curve("Effects on events", "match (0-1)", lambda v: v),
    "instruments": Curve("Instruments", "% agreement with yours", lambda v: 100.0 * math.exp(v)),
    "presence": Curve("Your parts playing", "1 = yours play, no others", lambda v: v),
    "density": Curve("Notes follow motion", "correlation (-1..1)", lambda v: v),
    "accents": Curve("Notes on events", "x the usual note density", lambda v: math.exp(v)),
    "cvsm": Curve("Picture match", "CVSM similarity (-1..1)", lambda v: v),
    "total": Curve("SNIO's objective", "weighted sum (higher: better)", lambda v: v),
}


@dataclass(frozen=True)
class Measures:
    """What a take's stems were measured to have."""

    tempo_bpm: float  # librosa's tempo of the music stem (report.json "tempo_measured_bpm"); 0: silence
    hits: int  # the picture's events with an effects onset within +-50 ms (one each)
    events: int  # the picture's events (cuts, flashes, impacts)
    heard: tuple[str, ...] | None  # families the instrument classifier hears; None: no classifier


def measure_take(pipe: SoundtrackPipeline, take: Take, report: Mapping) -> Measures:
    """Measure a take's stems: onsets of the effects against the events, families in the music.

    report: the take's written report.json (its measured tempo). About 0.3 s for 8 s of audio.
    """
    import torch

    from soundtrack.audio.mel import log_mel
    from soundtrack.audio.onsets import effect_onsets, onset_scores
    from soundtrack.models.instruments import MIN_FRAMES, instrument_probs

    onsets = effect_onsets(np.asarray(take.sfx16, np.float32), AUDIO.sample_rate)
    _, _, _, hits, n_events, _ = onset_scores(np.array([e.time for e in take.events]), onsets)
    heard = None
    classifier = pipe.models.instruments
    if classifier is not None:
        mel = log_mel(np.asarray(take.music16, np.float32)).float()  # (1, 64, F)
        if mel.shape[-1] < MIN_FRAMES:  # the classifier's shortest input: pad with silence
            mel = torch.nn.functional.pad(mel, (0, MIN_FRAMES - mel.shape[-1]),
                                          value=math.log(AUDIO.log_floor))
        probs = instrument_probs(classifier, mel, device=pipe.models.device)[0]  # (10,)
        heard = tuple(f for f, p in zip(FAMILY_NAMES, probs.tolist()) if p >= HEARD)
    return Measures(tempo_bpm=float(report.get("tempo_measured_bpm", 0.0)), hits=hits, events=n_events,
                    heard=heard)


def _signed_db(x: float) -> str:
    return f"{x:+.1f} dB".replace("-", "−")


def _balance_row(balance: float, report: Mapping) -> list[str]:
    """Balance: the asked and the mixed loudness difference of the effects over the music."""
    if balance <= 0.0:
        return ["Balance", "music only", "music only"]
    if balance >= 1.0:
        return ["Balance", "effects only", "effects only"]
    asked = 20.0 * math.log10(balance / (1.0 - balance))
    loud = report.get("loudness", {})
    got = float(loud.get("sfx_lufs", -math.inf)) - float(loud.get("music_lufs", -math.inf))
    if not math.isfinite(got):
        return ["Balance, effects over music", _signed_db(asked), "one stem is silent"]
    generated = report["scores"]["output"].get("balance")
    stems = ("" if generated is None else f" (the stems as generated were "
             f"{CURVES['balance'].value(generated):.1f} dB off; the mixer levels them)")
    return ["Balance, effects over music", _signed_db(asked),
            f"{_signed_db(got)}: off by {abs(got - asked):.1f} dB{stems}"]


def _engine_row(report: Mapping) -> list[str]:
    """Engine: which one made the take; the score engine's soundfont and who plays its notes."""
    from soundtrack.studio.state import ENGINE_WORDS

    engine = report.get("engine", "neural")
    score = report.get("score")
    if engine != "score" or score is None:
        return ["Engine", ENGINE_WORDS.get(engine, engine), "audio from the model"]
    players = ", ".join(score["families"]) or "none"
    return ["Engine", ENGINE_WORDS["score"],
            f"{score['notes']} notes played by {players} (soundfont {score['soundfont']}; music.mid)"]


def take_summary(take: TakeRecord) -> tuple[str, str]:
    """A finished take for people: (one line of what it is, Markdown of what was asked and what it has)."""
    from soundtrack.studio.controls import instruments_in_words

    r, s, m = take.report, take.settings, take.measures
    scores = r["scores"]
    if take.reorchestrated_from is not None:
        moves = ", ".join(f"{a} part on {b}" for a, b in r.get("reorchestrated", {}).items())
        how = f"the notes of take {take.reorchestrated_from} re-orchestrated ({moves})"
    elif take.remixed_from is not None:
        how = (f"the stems of take {take.remixed_from} mixed at balance {s.balance:.2f} "
               f"(generated for {r['remixed_from_balance']:.2f}; "
               "Generate re-optimises them for this balance)")
    elif take.warm_from is not None:
        how = f"warm start from take {take.warm_from}"
    else:
        how = f"seed {s.seed}"
    tempo, auto = r["tempo_requested_bpm"], r["tempo_auto"]
    headline = (f"**Take {take.number}** of {take.video.name} ({r['video']['duration_s']:.1f} s): "
                f"{instruments_in_words(s.instruments)}; {tempo:.1f} BPM{' (auto)' if auto else ''}; "
                f"{how}; made in {r['timings_s']['total']:.1f} s.")
    rows = [_engine_row(r)]
    if m is not None:
        got = (f"{m.tempo_bpm:.1f} BPM measured on the music: off by {abs(m.tempo_bpm - tempo):.1f} BPM"
               if m.tempo_bpm > 0 else "no beat found in the music")
        rows.append(["Tempo", f"{tempo:.1f} BPM{' (auto, from the picture)' if auto else ''}", got])
    rows.append(_balance_row(s.balance, r))
    if m is not None:
        rows.append(["Effects on the picture's events",
                     f"a hit on each of its {m.events} cuts, flashes and impacts" if m.events
                     else "(no events in this video)",
                     f"{m.hits} of {m.events} matched within ±50 ms" if m.events else ""])
        if m.heard is not None:
            missing = [f for f in s.instruments if f not in m.heard]
            extra = [f for f in m.heard if f not in s.instruments]
            verdict = "; ".join(part for part in (f"{', '.join(missing)} not heard" if missing else "",
                                                  f"{', '.join(extra)} heard too" if extra else "") if part)
            rows.append(["Instruments", ", ".join(s.instruments),
                         f"heard: {', '.join(m.heard) or 'none'} ({verdict or 'all of them'})"])
    if "cvsm" in scores["output"]:
        rows.append(["Picture match (CVSM, −1..1, higher: closer)", "", f"{scores['output']['cvsm']:.2f}"])
    lines = ["| | asked | in the take |", "|---|---|---|", *("| " + " | ".join(row) + " |" for row in rows)]
    total = [scores[k].get("total") for k in ("before_snio", "after_snio", "output")]
    if all(v is not None for v in total) and take.remixed_from is None and take.reorchestrated_from is None:
        lines += ["", f"SNIO's objective (the weighted sum of its scores, higher is better): {total[0]:.2f} "
                      f"before, {total[1]:.2f} after {s.snio_iters} iteration{'s' * (s.snio_iters != 1)}, "
                      f"{total[2]:.2f} for the take."]
    for note in r.get("notes", []):
        lines += ["", note]
    return headline, "\n".join(lines)


__all__ = ["CURVES", "Curve", "Measures", "measure_take", "take_summary"]
