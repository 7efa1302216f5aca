"""What the evaluation commands write: Markdown tables, the JSON, and their section of docs/RESULTS.md.

Each command owns one section of the results file, between its begin and end markers
(`<!-- evaluate:begin -->` ...); :func:`write_results_section` replaces that section in
place and keeps everything else.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from soundtrack.evaluation.bootstrap import PAIRED, PAIRED_METRICS, format_interval

SECTION_BEGIN = "<!-- evaluate:begin -->"
SECTION_END = "<!-- evaluate:end -->"
SECTION_MARKERS = {"neural": (SECTION_BEGIN, SECTION_END),  # `evaluate --engine E` -> its section's markers
                   "score": ("<!-- evaluate-score:begin -->", "<!-- evaluate-score:end -->")}
METRICS = (  # (key, markdown header), in table order
    ("fad_stats_music", "FAD stats music"), ("fad_stats_sfx", "FAD stats sfx"),
    ("fad_cvsm_music", "FAD cvsm music"), ("fad_cvsm_sfx", "FAD cvsm sfx"),
    ("leak_music", "leak music"), ("leak_sfx", "leak sfx"), ("sync_f1", "sync F1"),
    ("tempo_acc1", "tempo acc1"), ("tempo_acc2", "tempo acc2"),
    ("inst_recall", "inst recall"), ("inst_fpr", "inst FPR"), ("kl_inst", "KL inst"),
    ("balance_db", "balance dB"), ("beat_cut", "beat-cut"),
    ("cvsm_video_music", "cos v-music"), ("cvsm_video_sfx", "cos v-sfx"),
    ("density_motion", "density~motion"), ("cut_accent", "cut accent"), ("cvsm_rr", "CVSM MRR"),
    ("s_per_item", "s/item"),
)


def fmt(x: object) -> str:
    """A table cell: "—" for none, 3 decimals (3 significant digits from 100 up)."""
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) >= 100 else f"{x:.3f}"
    return str(x)


def markdown_table(result: dict) -> str:
    """The evaluation's rows as a Markdown table, then the skipped rows, the control scores,
    the paired differences and CVSM retrieval."""
    header = ["system"] + [title for _, title in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, values in result["rows"].items():
        lines.append("| " + " | ".join([row] + [fmt(values.get(k)) for k, _ in METRICS]) + " |")
    for row, note in result.get("skipped", {}).items():
        lines.append(f"\n`{row}`: {note}")
    cs = result.get("control_scores")
    if cs:
        names = sorted({k for v in cs.values() for k in v["output"] if k != "total"})
        lines += ["", "Control scores of the generated rows (docs/method/snio.md eqs. 3-7; higher is "
                  "better), on the sampled output, and on SNIO's surrogate before and after optimisation:",
                  "",
                  "| system | " + " | ".join(f"{k} out" for k in names) + " | " +
                  " | ".join(f"{k} surr. before→after" for k in names) + " |",
                  "|" + "---|" * (1 + 2 * len(names))]
        for row, v in cs.items():
            moves = [f"{fmt(v['surrogate_before'].get(k))}→{fmt(v['surrogate_after'].get(k))}" for k in names]
            lines.append("| " + " | ".join([row] + [fmt(v["output"].get(k)) for k in names] + moves) + " |")
    paired = result.get("paired")
    if paired:
        n = result.get("settings", {}).get("n", "the")
        lines += ["", f"Ablations as paired differences on the same {n} items (row a minus row b; "
                  "95 % interval of a paired bootstrap over the items, 2,000 draws; * where the "
                  "interval excludes 0). Lower is better for leakage, FPR and balance dB, higher for "
                  "the rest:", "",
                  "| a − b | " + " | ".join(title for _, title in PAIRED_METRICS) + " |",
                  "|" + "---|" * (1 + len(PAIRED_METRICS))]
        for a, b, what in PAIRED:
            d = paired.get(f"{a}-{b}")
            if d is None:
                continue
            cells = [format_interval(d[key]) if key in d else "—" for key, _ in PAIRED_METRICS]
            lines.append(f"| {what}: {a} − {b} | " + " | ".join(cells) + " |")
    r = result.get("cvsm_retrieval")
    if r:
        lines.append(f"\nCVSM retrieval among {int(r['n_candidates'])} candidates (chance R@1 "
                     f"{r['chance_r1']:.3f}): video→music R@1 {r['video_music_r1']:.3f} / R@5 "
                     f"{r['video_music_r5']:.3f}, video→effects R@1 {r['video_effects_r1']:.3f} / R@5 "
                     f"{r['video_effects_r5']:.3f}, music→video R@1 {r['music_video_r1']:.3f} / R@5 "
                     f"{r['music_video_r5']:.3f}.")
    return "\n".join(lines)


def results_section(result: dict, *, command: str) -> str:
    """The text between the evaluate markers in docs/RESULTS.md."""
    s = result["settings"]
    date = s["date"][:10]
    runs = ", ".join(f"{k}={v}" for k, v in s["runs"].items())
    return "\n".join([
        "## Evaluation" + (": the score engine" if s.get("engine") == "score" else ""), "",
        f"`{command}` ({date}; {s['split']} split, first {s['n']} items, {s['steps']} {s['scheduler']} "
        f"steps, "
        f"guidance {s['guidance']:g}, SNIO {s.get('snio_iters', 0)} iterations where used, "
        f"seed {s['seed']} + item index; machine {s['machine']}, "
        f"{s['cpu_count']} CPUs, {s['torch_threads']} torch threads; total "
        f"{result['timings']['total_s']:.0f} s).", "",
        f"Runs: {runs}.", "",
        markdown_table(result),
    ])


def write_results_section(path: Path, section: str, *, begin: str = SECTION_BEGIN,
                          end: str = SECTION_END) -> None:
    """Put `section` between the markers `begin` and `end` of `path` (default: the evaluate
    ones), replacing an earlier one and keeping everything else; append it (creating the
    file) when there is none. Atomic: a temporary file renamed over `path`."""
    block = f"{begin}\n{section.strip()}\n{end}"
    text = path.read_text() if path.is_file() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def publish(result: dict, table: str, *, json_path: Path | None, results_md: Path | None, module: str,
            argv: list[str], heading: str, detail: str, begin: str, end: str) -> None:
    """What an evaluation command does with its result: print the table, write the JSON, and put
    the section `## heading`, with the command that made it and `detail`, into results_md."""
    print(table)
    if json_path:
        json_path.write_text(json.dumps(result, indent=1, default=float))
    if results_md:
        command = shlex.join(["python", "-m", module, *argv])
        write_results_section(results_md, f"## {heading}\n\n`{command}` ({detail})\n\n{table}",
                              begin=begin, end=end)


__all__ = ["METRICS", "SECTION_BEGIN", "SECTION_END", "SECTION_MARKERS", "fmt", "markdown_table", "publish",
           "results_section",
           "write_results_section"]
