"""What a musician asks for: :class:`Settings` (one request, and its JSON) and :class:`Controls`
(the same with the tempo resolved: what the LDM is conditioned on, docs/method/sdma.md eq. 2c).

Both validate on construction: out-of-range, NaN or unknown values raise a one-line
:class:`~soundtrack.errors.InputError`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
import torch
from torch import Tensor

from soundtrack.audio.duck import ORIGINAL_DB_RANGE, check_original
from soundtrack.config import DEFAULT_EFFECTS
from soundtrack.errors import InputError
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.music.theory import INTENSITY_RANGE, MODES, PITCH_NAMES, TEMPO_RANGE, pitch_name
from soundtrack.render.effects import check_effects

DEFAULT_INSTRUMENTS = {"piano": 1.0, "strings": 0.7, "bass": 0.8, "drums": 0.8}
MAX_STEPS, MAX_SNIO_ITERS = 200, 50


def number(name: str, value: object, *, lo: float, hi: float) -> float:
    """`value` as a float in [lo, hi], else a one-line InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:  # an int too large for a float (JSON may carry one)
        x = math.inf if value > 0 else -math.inf
    if not math.isfinite(x) or not lo <= x <= hi:
        raise InputError(f"{name} must be between {lo:g} and {hi:g}, got {x:g}")
    return x


def whole(name: str, value: object, *, lo: int, hi: int) -> int:
    """`value` as an int in [lo, hi] (a float with no fraction is accepted), else a one-line InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be a whole number, got {value!r}")
    if not lo <= int(value) <= hi:
        raise InputError(f"{name} must be between {lo} and {hi}, got {value}")
    return int(value)


def pitch_class(key: object) -> int:
    """A key as a pitch class 0-11: the number itself, or a name ("D", "F#", "Bb")."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= int(key) < 12:
            raise InputError(f"key must be a pitch class 0-11 or a name ({', '.join(PITCH_NAMES)}), "
                             f"got {key}")
        return int(key)
    if isinstance(key, str) and (name := pitch_name(key)) is not None:
        return PITCH_NAMES.index(name)
    raise InputError(f"unknown key {key!r}; use a pitch class 0-11 or one of {', '.join(PITCH_NAMES)}")


def family_weights(instruments: object) -> dict[str, float]:
    """family -> weight in [0, 1] over every family, FAMILY_NAMES order (missing families weigh 0)."""
    if not isinstance(instruments, Mapping):
        raise InputError(f"instruments must map family names to weights, got {type(instruments).__name__}")
    unknown = [f for f in instruments if f not in FAMILY_NAMES]
    if unknown:
        raise InputError(f"unknown instrument famil{'ies' if len(unknown) > 1 else 'y'} "
                         f"{', '.join(map(repr, unknown))}; known: {', '.join(FAMILY_NAMES)}")
    return {f: number(f"weight of {f}", instruments.get(f, 0.0), lo=0.0, hi=1.0) for f in FAMILY_NAMES}


def mode_name(mode: object) -> str:
    m = mode.strip().lower() if isinstance(mode, str) else mode
    if m not in MODES:
        raise InputError(f"mode must be 'major' or 'minor', got {mode!r}")
    return m


@dataclass(frozen=True)
class Controls:
    """The LDM's conditions of one request (docs/method/sdma.md eq. 2c), validated on construction.

    instruments: family -> weight in [0, 1] over FAMILY_NAMES; missing families weigh 0
    (stored as the full map, FAMILY_NAMES order). key: pitch class 0-11 or a name ("D",
    "F#", "Bb"; stored as the pitch class). mode: "major" or "minor".
    """

    instruments: Mapping[str, float]
    tempo_bpm: float = 120.0
    key: int | str = 0
    mode: str = "major"
    intensity: float = 0.8

    def __post_init__(self) -> None:
        # normalised in place: the dataclass is frozen to callers, not to its own validation
        weights, mode = family_weights(self.instruments), mode_name(self.mode)
        object.__setattr__(self, "instruments", weights)
        object.__setattr__(self, "tempo_bpm",
                           number("tempo_bpm", self.tempo_bpm, lo=TEMPO_RANGE[0], hi=TEMPO_RANGE[1]))
        object.__setattr__(self, "key", pitch_class(self.key))
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "intensity",
                           number("intensity", self.intensity, lo=INTENSITY_RANGE[0], hi=INTENSITY_RANGE[1]))

    def __hash__(self) -> int:  # the instruments map is normalised to FAMILY_NAMES order
        return hash((tuple(self.instruments.items()), self.tempo_bpm, self.key, self.mode, self.intensity))

    def tensors(self, device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """The keyword arguments of `SoundtrackLDM.encode_conditions` for one row (batch 1)."""
        return {
            "instruments": torch.tensor([[self.instruments[f] for f in FAMILY_NAMES]],
                                        device=device),  # (1, 10) weights
            "tempo": torch.tensor([self.tempo_bpm], device=device),  # (1,) BPM
            "key": torch.tensor([self.key], dtype=torch.long, device=device),  # (1,)
            "mode": torch.tensor([MODES.index(self.mode)], dtype=torch.long, device=device),  # (1,) 0 major
            "intensity": torch.tensor([self.intensity], device=device),  # (1,)
        }


@dataclass(frozen=True)
class Settings:
    """One request's settings: the command's options and the studio's controls, validated.

    tempo: BPM in 60-180 or "auto" (from the video's cut and motion rhythm); instruments:
    family -> weight (stored: the families above 0, FAMILY_NAMES order); balance: 0 music
    only, 1 effects only, 0.5 equal loudness (the stems' loudness difference is
    20 log10(b / (1 - b)) dB); intensity 0.6-1; key (stored as its name), mode; seed; steps
    (DPM-Solver++ steps); guidance (CFG scale); snio_iters (0 = plain sampling).
    """

    tempo: float | str = "auto"
    instruments: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_INSTRUMENTS))
    balance: float = 0.5
    intensity: float = 0.8
    key: int | str = "C"
    mode: str = "major"
    seed: int = 0
    steps: int = 10
    guidance: float = 3.0
    snio_iters: int = 3
    effects: str = DEFAULT_EFFECTS
    original: str = "replace"
    original_db: float = 0.0

    def __post_init__(self) -> None:
        tempo = self.tempo
        if isinstance(tempo, str):
            if tempo.strip().lower() != "auto":
                try:
                    tempo = float(tempo)
                except ValueError:
                    raise InputError(f"tempo must be a BPM number or 'auto', got {self.tempo!r}") from None
            else:
                tempo = "auto"
        if tempo != "auto":
            tempo = number("tempo", tempo, lo=TEMPO_RANGE[0], hi=TEMPO_RANGE[1])
        object.__setattr__(self, "tempo", tempo)
        object.__setattr__(self, "balance", number("balance", self.balance, lo=0.0, hi=1.0))
        object.__setattr__(self, "seed", whole("seed", self.seed, lo=0, hi=2**31 - 1))
        object.__setattr__(self, "steps", whole("steps", self.steps, lo=1, hi=MAX_STEPS))
        object.__setattr__(self, "snio_iters", whole("snio_iters", self.snio_iters, lo=0, hi=MAX_SNIO_ITERS))
        object.__setattr__(self, "guidance", number("guidance", self.guidance, lo=1.0, hi=15.0))
        object.__setattr__(self, "effects", check_effects(self.effects))
        object.__setattr__(self, "original", check_original(self.original))
        object.__setattr__(self, "original_db", number("original_db", self.original_db, lo=ORIGINAL_DB_RANGE[0],
                                                       hi=ORIGINAL_DB_RANGE[1]))
        weights = family_weights(self.instruments)
        mode = mode_name(self.mode)
        key = pitch_class(self.key)
        intensity = number("intensity", self.intensity, lo=INTENSITY_RANGE[0], hi=INTENSITY_RANGE[1])
        if not any(w > 0 for w in weights.values()):
            raise InputError("choose at least one instrument family with a weight above 0")
        object.__setattr__(self, "instruments", {f: w for f, w in weights.items() if w > 0})
        object.__setattr__(self, "key", PITCH_NAMES[key])
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "intensity", intensity)

    def controls(self, tempo_bpm: float) -> Controls:
        """The model's conditions at a resolved tempo (the request's, or the auto tempo)."""
        return Controls(instruments=self.instruments, tempo_bpm=tempo_bpm, key=self.key, mode=self.mode,
                        intensity=self.intensity)

    def to_dict(self) -> dict:
        return {"tempo": self.tempo, "instruments": dict(self.instruments), "balance": self.balance,
                "intensity": self.intensity, "key": self.key, "mode": self.mode,
                "seed": self.seed, "steps": self.steps, "guidance": self.guidance, "snio_iters": self.snio_iters,
                "effects": self.effects, "original": self.original, "original_db": self.original_db}

    @classmethod
    def from_dict(cls, d: Mapping) -> Settings:
        """Settings from a saved settings JSON (unknown keys are refused, missing ones default)."""
        if not isinstance(d, Mapping):
            raise InputError("settings must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def from_labels(cls, labels: Mapping, **settings) -> Settings:
        """The settings that ask for a corpus item's own labels (its labels.json): its tempo,
        families (each at weight 1), key, mode and intensity (clipped to the controls' 0.6-1),
        with any further settings (seed, steps, guidance, snio_iters, ...)."""
        lo, hi = INTENSITY_RANGE
        return cls(tempo=labels["tempo_bpm"], instruments={f: 1.0 for f in labels["instruments"]},
                   key=labels["key"], mode=labels["mode"],
                   intensity=min(hi, max(lo, labels.get("intensity", 1.0))), **settings)


SETTINGS_FORMAT = "soundtrack-settings/1"


def write_settings_json(path: Path, settings: Settings, *, video: str, take: int | None = None,
                        warm_start: bool = False, remixed_from: int | None = None) -> Path:
    """The settings file a take offers for download (readable by `generate --settings`)."""
    doc = {"format": SETTINGS_FORMAT, "settings": settings.to_dict(), "video": video}
    if take is not None:
        doc["take"] = take
    doc["warm_start"] = warm_start
    if warm_start:
        doc["note"] = ("this take re-optimised the noise of the take before it; the settings with a "
                       "cold start (Generate) give the seed's own take")
    if remixed_from is not None:
        doc["remixed_from"] = remixed_from
        doc["note"] = (f"this take mixed the stems of take {remixed_from} at this balance; these settings "
                       "generate stems optimised for it, which sound different")
    path.write_text(json.dumps(doc, indent=1))
    return path


class SavedSettings(NamedTuple):
    settings: Settings
    video: str | None  # the name of the video they were saved for
    warm_start: bool  # the take re-optimised an earlier take's noise (not reproducible from the seed)
    remixed_from: int | None = None  # the take mixed an earlier take's stems at its balance (DECISIONS #36)


def read_settings_json(path: Path | str) -> SavedSettings:
    """The settings in a settings JSON: the studio's, or a bare Settings.to_dict()."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path.name}: not a settings JSON ({e.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path.name}: a settings JSON is an object, got {type(doc).__name__}")
    if "settings" in doc:
        video = doc.get("video")
        remixed = doc.get("remixed_from")
        return SavedSettings(Settings.from_dict(doc["settings"]), video if isinstance(video, str) else None,
                             doc.get("warm_start") is True,
                             remixed if isinstance(remixed, int) and not isinstance(remixed, bool) else None)
    return SavedSettings(Settings.from_dict(doc), None, False)


def parse_instruments(text: str) -> dict[str, float]:
    """'piano,strings:0.5' -> {"piano": 1.0, "strings": 0.5} (a family alone weighs 1)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        try:
            out[name.strip().lower()] = float(weight) if weight else 1.0
        except ValueError:
            raise InputError(f"instrument weight must be a number: {part!r}") from None
    if not out:
        raise InputError("instruments: name at least one family, e.g. piano,strings,drums")
    return out


def instruments_text(instruments: Mapping[str, float]) -> str:
    """{"piano": 1.0, "strings": 0.5} -> "piano,strings:0.5": the inverse of :func:`parse_instruments`."""
    return ",".join(f if w == 1 else f"{f}:{w:g}" for f, w in instruments.items())


__all__ = ["DEFAULT_INSTRUMENTS", "MAX_SNIO_ITERS", "MAX_STEPS", "SETTINGS_FORMAT", "Controls",
           "SavedSettings",
           "Settings", "family_weights", "instruments_text", "number", "parse_instruments", "pitch_class",
           "read_settings_json", "whole", "write_settings_json"]
