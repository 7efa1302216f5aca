"""Recorded against neural effects: `python -m soundtrack.evaluation.effects`.

Every video (clips the corpus's scene generator did not draw, evaluation/unseen.py: UNSEEN_SEEDS
drawn clips and REAL_CUT_SEEDS cuts between the real clips in assets/; and the two example
videos with events, EXAMPLE_EVENTS) gets one take of the default engine with
`effects="recorded"`, whose report keeps the model's own effects too, so both effects of one
generation are compared (and a third: the recordings at the generated onsets, not snapped to the
picture, to show what snapping to the detected picture events does). Measured on each effects
stem at 16 kHz, never with the model's own scores:

- sync: librosa's onsets of the stem against the video's known event times, +-50 ms
  (audio/onsets.py), pooled: F1, picture events with no effect (misses), effects on no picture
  event (false alarms);
- realism: spectral centroid and flatness of the stem's active frames (RMS within 30 dB of the
  stem's loudest frame; n_fft 1024, hop 160), median and 10th-90th percentiles; and the FAD
  (training-free stats embedding, audio/embeddings.py) of 0.5 s segments from each onset
  against the same segments (each peak-normalised) of HELD_OUT, real recordings of the same Debian packages that the
  bundled library does not hold (and the corpus never used);
- speed: the render stage (pipeline/mixdown.effects_stem, recorded) on a 10 s take, median of
  7 runs, and the report's onset measurement that every take adds;
- ducking (original "keep", audio/duck.py): Big Buck Bunny's clip, whose real soundtrack is kept,
  one take with `original="keep"` and one with "replace" (same seed): the soundtrack's level
  (music + effects) in the first against the second, in 0.2 s windows, where the kept sound is
  loud (short-term level above DUCK_LOUD_DBFS) and where it is quiet (below DUCK_QUIET_DBFS), in
  dB (the difference of the two medians is the duck); the mix's loudness and true peak.

Prints a Markdown table and writes it into docs/RESULTS.md between `<!-- effects:begin -->` and
`<!-- effects:end -->` when `--results-md` is given.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from soundtrack.config import AUDIO

BEGIN, END = "<!-- effects:begin -->", "<!-- effects:end -->"
UNSEEN_SEEDS = (0, 1, 2, 3, 4, 5)
REAL_CUT_SEEDS = (0, 1)
ASSETS = Path(__file__).resolve().parents[2] / "assets"
# the corpus scenes of the example clips (scripts/make_example_clips.py, seeds 103 and 204)
EXAMPLE_EVENTS = {
    "flashes-and-bounces.mp4": (0.24, 0.84, 1.32, 1.64, 2.0, 2.48, 2.96, 3.36, 4.48, 5.56, 5.92, 6.92, 7.32),
    "night-hits.mp4": (0.32, 0.72, 1.08, 1.52, 2.36, 2.88, 3.52, 3.92, 4.6, 4.96, 5.48, 5.8, 6.56, 7.4),
}
_FC = Path("/usr/share/games/freeciv/stdsounds")
_FB = Path("/usr/share/games/frozen-bubble/snd")
_FD = Path("/usr/share/sounds/freedesktop/stereo")
HELD_OUT = (*(_FC / f for f in ("LrgCan.ogg", "MgBar1.ogg", "MgBar2.ogg", "MgHeavy.ogg", "Splash.ogg",
                                "inh2o.ogg")),
            *(_FB / f for f in ("destroy_group.ogg", "malus.ogg", "newroot.ogg", "noh.ogg", "cancel.ogg",
                                "chatted.ogg")),
            *(_FD / f for f in ("power-plug.oga", "power-unplug.oga", "device-added.oga", "device-removed.oga",
                                "trash-empty.oga", "screen-capture.oga", "dialog-warning.oga",
                                "audio-volume-change.oga")))
SEGMENT_S = 0.5
DUCK_LOUD_DBFS, DUCK_QUIET_DBFS = -35.0, -45.0
ACTIVE_DB = 30.0
STEMS = ("neural", "recorded, snapped to picture events", "recorded, at the generated onsets")


def videos(folder: Path) -> list[tuple[Path, str, list[float]]]:
    """(video, group, event times) of every test video, the generated ones written into `folder`."""
    from soundtrack.evaluation.unseen import real_cuts_clip, unseen_clip

    out = []
    for seed in UNSEEN_SEEDS:
        path = folder / f"unseen-{seed}.mp4"
        out.append((path, "unseen", [t for t, _ in unseen_clip(path, seed=seed)]))
    for seed in REAL_CUT_SEEDS:
        path = folder / f"real-cuts-{seed}.mp4"
        out.append((path, "real cuts", [t for t, _ in real_cuts_clip(path, seed=seed)]))
    out += [(ASSETS / name, "examples", list(times)) for name, times in EXAMPLE_EVENTS.items()]
    return out


def segments(stem16: np.ndarray, onsets: np.ndarray) -> list[np.ndarray]:
    """(n,) 0.5 s segments (T,) of a 16 kHz stem from each onset (zero-padded at the end), each
    peak-normalised: the FAD compares how effects sound, not how loud each one is."""
    n = int(SEGMENT_S * AUDIO.sample_rate)
    out = []
    for t in onsets:
        seg = stem16[int(t * AUDIO.sample_rate):][:n]
        seg = np.pad(seg, (0, n - len(seg)))
        peak = np.abs(seg).max()
        out.append(seg.astype(np.float64) / (peak if peak > 0 else 1.0))  # level apart: the embedding's MFCC see it
    return out


def spectral_frames(stem16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centroid Hz, flatness) of the active frames of a 16 kHz stem."""
    import librosa

    y = np.asarray(stem16, np.float64)
    if not np.any(y):
        return np.zeros(0), np.zeros(0)
    mag = np.abs(librosa.stft(y, n_fft=1024, hop_length=160))  # (513, F)
    rms = np.sqrt(np.mean(mag ** 2, axis=0))  # (F,)
    active = 20 * np.log10(np.maximum(rms, 1e-12)) > 20 * np.log10(rms.max()) - ACTIVE_DB
    cent = librosa.feature.spectral_centroid(S=mag, sr=AUDIO.sample_rate)[0]
    flat = librosa.feature.spectral_flatness(S=mag)[0]
    return cent[active], flat[active]


def held_out_recordings() -> list[np.ndarray]:
    """HELD_OUT as 16 kHz mono waves from their first onset (the installed Debian packages)."""
    from soundtrack.audio.io import load_audio

    out = []
    for path in HELD_OUT:
        if path.is_file():
            x = load_audio(path, sr=AUDIO.sample_rate)
            env = np.abs(x)
            out.append(x[max(0, int(np.argmax(env > 0.1 * env.max())) - 16):])
    if len(out) < 8:
        raise SystemExit("the held-out recordings need the Debian packages freeciv-data, frozen-bubble-data and "
                         "sound-theme-freedesktop (bash scripts/setup-tests.sh)")
    return out


def library_waves() -> list[np.ndarray]:
    """The bundled library at 16 kHz (a reference row)."""
    import soxr

    from soundtrack.render.effects import load_library

    return [soxr.resample(r.audio, 48_000, AUDIO.sample_rate).astype(np.float32) for r in load_library()]


def realism(stems: list[np.ndarray], onsets: list[np.ndarray], ref_emb: np.ndarray) -> dict:
    """Centroid / flatness percentiles over the stems' active frames, and the FAD of their onset
    segments against the held-out embeddings."""
    from soundtrack.audio.embeddings import frechet_distance, stats_embedding

    frames = [spectral_frames(s) for s in stems]
    cent = np.concatenate([c for c, _ in frames])
    flat = np.concatenate([f for _, f in frames])
    segs = [seg for s, o in zip(stems, onsets) for seg in segments(s, o)]
    emb = np.stack([stats_embedding(seg) for seg in segs])  # (N, 86)
    return {"centroid_hz": [float(np.percentile(cent, q)) for q in (10, 50, 90)],
            "flatness": [float(np.percentile(flat, q)) for q in (10, 50, 90)],
            "fad": frechet_distance(emb, ref_emb), "segments": len(segs)}


def render_speed(pipe, folder: Path, **settings) -> dict:
    """The render stage and the report's onset measurement on a 10 s take (median of 7 runs)."""
    from soundtrack.evaluation.unseen import unseen_clip
    from soundtrack.pipeline import Settings
    from soundtrack.pipeline.mixdown import effects_stem
    from soundtrack.pipeline.report import effects_report

    path = folder / "speed-10s.mp4"
    unseen_clip(path, seed=99, seconds=10.0)
    take = pipe(path, Settings(effects="recorded", seed=0, **settings))
    render, report = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        fx = effects_stem(take.sfx_neural16, events=take.events, effects="recorded")
        t1 = time.perf_counter()
        effects_report(fx.sfx16, event_times=[e.time for e in take.events], mode="recorded",
                       placements=fx.placements)
        render.append(t1 - t0)
        report.append(time.perf_counter() - t1)
    return {"take_s": take.duration_s, "render_s": float(np.median(render)), "report_s": float(np.median(report)),
            "render_runs_s": render, "in_take_s": take.report["timings_s"]["effects"]}


def ducking(pipe, *, seed: int = 0, **settings) -> dict:
    """The soundtrack's level under Big Buck Bunny's kept sound (module docstring)."""
    from soundtrack.audio.duck import short_term_db
    from soundtrack.pipeline import Settings

    video = ASSETS / "bigbuckbunny.mp4"
    keep = pipe(video, Settings(original="keep", effects="recorded", seed=seed, **settings))
    replace = pipe(video, Settings(original="replace", effects="recorded", seed=seed, **settings))
    sr = keep.mix.sr
    original = keep.mix.mix - keep.mix.music - keep.mix.sfx  # (2, T) as mixed
    level = short_term_db(original, sr)  # (T,)
    starts = np.arange(0.0, keep.duration_s - 0.2, 0.2)

    def db(x: np.ndarray, t: float) -> float:
        return 10 * np.log10(np.mean(x[:, int(t * sr):int((t + 0.2) * sr)] ** 2) + 1e-20)

    gain = np.array([db(keep.mix.music + keep.mix.sfx, t) - db(replace.mix.music + replace.mix.sfx, t)
                     for t in starts])
    under = np.array([db(keep.mix.music + keep.mix.sfx, t) - db(original, t) for t in starts])
    at = level[(starts * sr + 0.1 * sr).astype(int)]
    loud, quiet = at > DUCK_LOUD_DBFS, at < DUCK_QUIET_DBFS
    return {"windows_loud": int(loud.sum()), "windows_quiet": int(quiet.sum()),
            "gain_loud_db": float(np.median(gain[loud])), "gain_quiet_db": float(np.median(gain[quiet])),
            "soundtrack_over_original_loud_db": float(np.median(under[loud])),
            "soundtrack_over_original_quiet_db": float(np.median(under[quiet])),
            "mix_lufs": keep.mix.mix_lufs, "mix_dbtp": keep.mix.mix_dbtp}


def evaluate_effects(*, checkpoints: Path | None = None, seed: int = 0, snio_iters: int | None = None,
                     progress: bool = True) -> dict:
    """Every video's take, its effects measured as neural, recorded and recorded-not-snapped."""
    from tqdm import tqdm

    from soundtrack.audio.embeddings import stats_embedding
    from soundtrack.audio.onsets import effect_onsets, f_measure, onset_scores
    from soundtrack.audio.mix import resample
    from soundtrack.pipeline import Settings, SoundtrackPipeline
    from soundtrack.render.effects import render_effects

    t_all = time.perf_counter()
    pipe = SoundtrackPipeline.bundled(checkpoints)
    iters = {} if snio_iters is None else {"snio_iters": snio_iters}
    rows: list[dict] = []
    stems: dict[str, list[np.ndarray]] = {k: [] for k in STEMS}
    onsets: dict[str, list[np.ndarray]] = {k: [] for k in STEMS}
    with tempfile.TemporaryDirectory() as tmp:
        for video, group, truth in tqdm(videos(Path(tmp)), desc="effects", disable=not progress):
            take = pipe(video, Settings(effects="recorded", seed=seed, **iters))
            n48 = len(take.sfx48)
            played = []
            for snap in (True, False):
                wave, _ = render_effects(take.sfx_neural16, events=take.events, n_out=n48, snap=snap)
                played.append(resample(wave.astype(np.float64), sr_in=48_000, sr_out=AUDIO.sample_rate,
                                       n_out=len(take.sfx16)).astype(np.float32))
            for name, stem in zip(STEMS, (take.sfx_neural16, *played)):
                found = effect_onsets(stem, AUDIO.sample_rate)
                f, _, _, hits, n_ref, n_est = onset_scores(truth, found)
                rows.append({"video": video.name, "group": group, "stem": name, "hits": hits, "n_ref": n_ref,
                             "n_est": n_est, "f1": f})
                stems[name].append(stem)
                onsets[name].append(found)
        speed = render_speed(pipe, Path(tmp), **iters)
    duck = ducking(pipe, seed=seed, **iters)
    ref = held_out_recordings()
    ref_emb = np.stack([stats_embedding(seg) for r in ref for seg in segments(r, np.zeros(1))])  # (R, 86)
    summary = {}
    for name in STEMS:
        mine = [r for r in rows if r["stem"] == name]
        hits, n_ref, n_est = (sum(r[k] for r in mine) for k in ("hits", "n_ref", "n_est"))
        groups = {g: f_measure(*(sum(r[k] for r in mine if r["group"] == g) for k in ("hits", "n_ref", "n_est")))[0]
                  for g in ("unseen", "real cuts", "examples")}
        summary[name] = {"takes": len(mine), "picture_events": n_ref, "effects": n_est, "hits": hits,
                         "misses": n_ref - hits, "false_alarms": n_est - hits, "f1": f_measure(hits, n_ref, n_est)[0],
                         "f1_groups": groups, **realism(stems[name], onsets[name], ref_emb)}
    lib = library_waves()
    summary["bundled library (reference)"] = realism(lib, [np.zeros(1) for _ in lib], ref_emb)
    return {"rows": rows, "summary": summary, "speed": speed, "ducking": duck,
            "held_out": [p.name for p in HELD_OUT if p.is_file()],
            "seconds": time.perf_counter() - t_all}


def markdown(result: dict) -> str:
    def pct(v: list[float], nd: int) -> str:
        return f"{v[1]:.{nd}f} [{v[0]:.{nd}f}–{v[2]:.{nd}f}]"

    head = ("| effects | takes | picture events | effects | hits | misses | false alarms | sync F1 ±50 ms | "
            "F1 unseen | F1 real cuts | F1 examples | centroid Hz median [p10–p90] | flatness median [p10–p90] | "
            "FAD vs held-out |")
    lines = [head, "|" + "---|" * 14]
    for name, s in result["summary"].items():
        if "f1" in s:
            g = s["f1_groups"]
            sync = (f"{s['takes']} | {s['picture_events']} | {s['effects']} | {s['hits']} | {s['misses']} | "
                    f"{s['false_alarms']} | {s['f1']:.3f} | {g['unseen']:.3f} | {g['real cuts']:.3f} | "
                    f"{g['examples']:.3f}")
        else:
            sync = " | ".join(["—"] * 10)
        lines.append(f"| {name} | {sync} | {pct(s['centroid_hz'], 0)} | {pct(s['flatness'], 4)} | {s['fad']:.2f} |")
    sp = result["speed"]
    lines += ["", f"Render stage on a {sp['take_s']:.0f} s take: {sp['render_s']:.3f} s (median of 7 runs; "
              f"{sp['in_take_s']:.3f} s inside the take), plus {sp['report_s']:.3f} s for the report's onset "
              f"measurement. Held-out recordings: {', '.join(result['held_out'])}."]
    d = result["ducking"]
    lines += ["", f"Ducking under Big Buck Bunny's kept sound (original keep, 0 dB): the soundtrack "
              f"{d['gain_loud_db']:+.1f} dB where that sound is loud (> {DUCK_LOUD_DBFS:g} dBFS, "
              f"{d['windows_loud']} windows of 0.2 s) and {d['gain_quiet_db']:+.1f} dB where it is quiet "
              f"(< {DUCK_QUIET_DBFS:g} dBFS, {d['windows_quiet']} windows), against the same take with the "
              f"sound replaced; the soundtrack sits {d['soundtrack_over_original_loud_db']:+.1f} dB over the kept "
              f"sound where it is loud and {d['soundtrack_over_original_quiet_db']:+.1f} dB where quiet; mix "
              f"{d['mix_lufs']:.2f} LUFS, true peak {d['mix_dbtp']:.2f} dBTP."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from soundtrack.evaluation.report import publish

    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m soundtrack.evaluation.effects", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoints", type=Path, default=None, help="model folder (default: the bundled checkpoints/)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snio-iters", type=int, default=None, help="SNIO iterations of every take (default: Settings')")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--results-md", type=Path, default=None, help="e.g. docs/RESULTS.md")
    args = p.parse_args(argv)
    result = evaluate_effects(checkpoints=args.checkpoints, seed=args.seed, snio_iters=args.snio_iters)
    publish(result, markdown(result), json_path=args.json, results_md=args.results_md,
            module="soundtrack.evaluation.effects", argv=argv, heading="Recorded against neural effects",
            detail=f"{len(result['rows']) // len(STEMS)} takes, {result['seconds']:.0f} s on this machine",
            begin=BEGIN, end=END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
