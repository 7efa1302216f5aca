"""How fast a change is heard in the studio, in Chromium: `python -m scripts.change_latency`.

Starts app.py (the bundled model, or --tiny for a random tiny one), uploads a long video
(default: assets/bikes.mp4 looped to 79.5 s as an AVI, like the street scene of issue 18), makes
one quick take (--steps, --snio-iters: the take itself is not measured), then makes --moves
changes of one kind (--move), each --settle seconds after the previous take is written:

  balance:     the balance slider moved (a re-mix of the last take's stems, DECISIONS #36),
  tempo:       the BPM slider moved (the score engine sketches the last notes at the new tempo
               at once, retake.quick_sketch, while the model writes the new take),
  instrument:  one instrument family ticked or unticked (sketched likewise).

For each change it prints the seconds from the click to

  heard:   the first new audio in the page, fetched and decoded (the player can play it), and
  written: the take with its files (status "Take N"),

and their medians. Run it on an otherwise quiet machine.

    python -m scripts.change_latency [--move tempo] [--video clip.avi] [--tiny] [--moves 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
POSITIONS = (0.3, 0.7, 0.4, 0.6, 0.2, 0.8, 0.5)  # where the slider is clicked, along its track
FAMILIES = ("strings", "brass", "guitar", "woodwinds", "piano")  # toggled in turn by --move instrument
QUICK = ("listen to the re-mix", "Sketch from")  # what the status says when a change is first heard
# In the page: the time of each change (bench.release, set just before the click), and of the first new
# audio the player gets after it (armed just before the move), fetched and decoded as the player does.
WATCH = """quick => {
    window.bench = {release: [], heard: [], armed: false, said: null};
    const player = document.querySelector('#preview-audio');
    const current = player.querySelector('a[data-testid=download-link]');
    let last = current && current.getAttribute('href');  // the take's own audio is not news
    const status = document.querySelector('#status');
    new MutationObserver(() => {
        if (quick.some(q => status.innerText.includes(q)) && window.bench.said === null)
            window.bench.said = performance.now();
    }).observe(status, {subtree: true, childList: true, characterData: true});
    new MutationObserver(async () => {
        const link = player.querySelector('a[data-testid=download-link]');
        const href = link && link.getAttribute('href');
        if (!href || href === last) return;
        last = href;
        if (!window.bench.armed) return;  // only the first audio after a move
        window.bench.armed = false;
        const arrived = performance.now();
        const data = await (await fetch(href)).arrayBuffer();
        await new OfflineAudioContext(1, 16000, 16000).decodeAudioData(data);
        window.bench.heard.push([performance.now(), href.split('/').pop(), arrived, window.bench.said]);
    }).observe(player, {subtree: true, childList: true, attributes: true});
}"""


def long_video(out: Path, seconds: float) -> Path:
    """assets/bikes.mp4 looped to `seconds`, as an AVI (MPEG-4 part 2): what a camera might give."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-stream_loop", "-1",
                    "-i", str(ROOT / "assets" / "bikes.mp4"), "-t", f"{seconds}", "-an", "-c:v", "mpeg4",
                    "-q:v", "4", str(out)], check=True)
    return out


def wait_status(page, text: str, timeout_s: float) -> None:
    page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text,
                           timeout=timeout_s * 1000)


def main() -> None:
    from playwright.sync_api import sync_playwright

    from soundtrack.studio.local import start_app

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, help="a video (default: bikes.mp4 looped to --seconds, as AVI)")
    p.add_argument("--seconds", type=float, default=79.5)
    p.add_argument("--tiny", action="store_true", help="a tiny random model instead of checkpoints/")
    p.add_argument("--move", choices=("balance", "tempo", "instrument"), default="balance")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--snio-iters", type=int, default=0)
    p.add_argument("--moves", type=int, default=5)
    p.add_argument("--settle", type=float, default=3.0, help="seconds between a take and the next move")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video = args.video or long_video(work / "street.avi", args.seconds)
        env = {"OMP_NUM_THREADS": "2"}
        if args.tiny:
            from tests.test_pipeline import export_tiny_checkpoints

            env["SOUNDTRACK_CHECKPOINTS"] = str(export_tiny_checkpoints(work / "tiny"))
        proc, url = start_app(work, env=env)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url, wait_until="domcontentloaded")
                page.wait_for_selector("#generate", timeout=60_000)
                # 1. The video (a playable copy is made for an AVI) and one quick take
                page.locator("#video input[type=file]").set_input_files(str(video))
                wait_status(page, "press Generate", 300)
                for elem_id, value in (("steps", args.steps), ("snio-iters", args.snio_iters)):
                    box = page.locator(f"#{elem_id} input[type=number]")
                    box.fill(str(value))
                    box.press("Enter")
                t0 = time.perf_counter()
                page.locator("#generate").click()
                wait_status(page, "Take 1", 1800)
                print(f"take 1 of {video.name}: {time.perf_counter() - t0:.1f} s")
                duration = float(page.locator("#status").inner_text().split("(")[1].split(" s)")[0])
                # 2. Changes, each once the last take is written
                page.evaluate(WATCH, list(QUICK))
                slider = "#tempo" if args.move == "tempo" else "#balance"
                track = page.locator(f"{slider} input[type=range]")
                heard, written = [], []
                for k in range(args.moves):
                    target = (page.locator(f"#family-{FAMILIES[k % len(FAMILIES)]} input")
                              if args.move == "instrument" else track)
                    target.scroll_into_view_if_needed()
                    box = target.bounding_box()
                    page.wait_for_timeout(args.settle * 1000)  # the take's own audio loads; one listens
                    page.evaluate("window.bench.armed = true; window.bench.said = null; "
                                  "window.bench.release.push(performance.now())")
                    x = box["width"] * (0.5 if args.move == "instrument" else POSITIONS[k % len(POSITIONS)])
                    page.mouse.click(box["x"] + x, box["y"] + box["height"] / 2)
                    wait_status(page, f"Take {k + 2}", 600)
                    written_at = page.evaluate("performance.now()")
                    page.wait_for_function("() => window.bench.heard.some("
                                           "h => h[0] > window.bench.release.at(-1))",
                                           timeout=60_000)
                    bench = page.evaluate("window.bench")
                    release = bench["release"][-1]
                    first = min((h for h in bench["heard"] if h[0] > release), key=lambda h: h[0])
                    heard.append((first[0] - release) / 1000)
                    written.append((written_at - release) / 1000)
                    said, arrived = ((t - release) / 1000 if t else float("nan")
                                     for t in (first[3], first[2]))
                    print(f"move {k + 1}: heard {heard[-1]:.2f} s ({first[1]}; status after {said:.2f} s, "
                          f"audio after {arrived:.2f} s), written {written[-1]:.2f} s")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    result = {"video": video.name, "duration_s": duration, "move": args.move, "moves": args.moves,
              "heard_s": heard,
              "written_s": written, "heard_median_s": statistics.median(heard),
              "written_median_s": statistics.median(written),
              "model": "tiny (random)" if args.tiny else "bundled"}
    print(f"{video.name} ({duration:.1f} s): a {args.move} move heard in {result['heard_median_s']:.2f} s "
          f"(median of {args.moves}), its take written in {result['written_median_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
