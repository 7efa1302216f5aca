"""General MIDI instrument families: the instrumentation vocabulary of the whole project.

Each family lists the GM programs (0-based) the composer draws from, the roles it can
play, and the colour its on-screen avatar has in the procedural video (docs/DATA.md).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    programs: tuple[int, ...]  # GM programs, 0-based; empty for drums (channel 10 kit)
    roles: tuple[str, ...]  # subset of ("chords", "melody", "bass", "drums")
    colour: tuple[int, int, int]  # avatar colour in the video, RGB
    shape: str  # avatar shape in the video: "disc", "square", "diamond", "bar"


FAMILIES: tuple[Family, ...] = (
    Family("piano", (0, 1, 2, 4), ("chords", "melody"), (240, 240, 240), "square"),
    Family("mallets", (11, 12, 13), ("chords", "melody"), (120, 220, 255), "disc"),
    Family("organ", (16, 17, 19), ("chords",), (170, 90, 220), "bar"),
    Family("guitar", (24, 25, 27), ("chords", "melody"), (250, 210, 60), "diamond"),
    Family("bass", (32, 33, 34, 38), ("bass",), (60, 90, 255), "bar"),
    Family("strings", (48, 49, 40, 42), ("chords", "melody"), (200, 60, 50), "bar"),
    Family("brass", (56, 57, 60, 61), ("chords", "melody"), (255, 150, 30), "diamond"),
    Family("woodwinds", (73, 71, 68, 65), ("melody",), (90, 210, 110), "disc"),
    Family("synth", (80, 81, 88, 89, 90), ("chords", "melody"), (255, 70, 200), "square"),
    Family("drums", (), ("drums",), (255, 255, 120), "disc"),
)

FAMILY_NAMES: tuple[str, ...] = tuple(f.name for f in FAMILIES)
N_FAMILIES = len(FAMILY_NAMES)


def family(name: str) -> Family:
    """The family called `name` (KeyError names the known ones)."""
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(f"unknown instrument family {name!r}; known: {', '.join(FAMILY_NAMES)}")


def families_for(role: str) -> tuple[Family, ...]:
    return tuple(f for f in FAMILIES if role in f.roles)
