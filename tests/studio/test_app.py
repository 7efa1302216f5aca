"""The studio starts from app.py, serves its page, and answers its API (real server, tiny model)."""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "assets" / "flashes-and-bounces.mp4"  # 8.0 s, no audio
FAST = {"steps": 2, "snio_iters": 1}  # a take of the tiny model in a few seconds


def _client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def _alive(server) -> None:
    assert server.proc.poll() is None, server.log_text()[-3000:]
    with urllib.request.urlopen(server.url, timeout=10) as r:
        assert r.status == 200


def test_page_is_served_on_loopback(server) -> None:
    with urllib.request.urlopen(server.url, timeout=10) as r:
        html = r.read().decode()
    assert "soundtrack studio" in html


def test_api_offers_generate_with_the_cli_option_names(server) -> None:
    endpoints = _client(server).view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {"/generate", "/analyze"}  # the UI's own events stay private
    params = {p["parameter_name"]: p for p in endpoints["/generate"]["parameters"]}
    assert list(params)[:7] == ["video", "tempo", "instruments", "balance", "intensity", "key", "mode"]
    assert {"seed", "steps", "snio_iters", "guidance"} <= set(params)
    assert not params["video"]["parameter_has_default"]
    assert params["tempo"]["parameter_default"] == "auto"
    assert params["instruments"]["parameter_default"] == "piano,strings:0.7,bass:0.8,drums:0.8"
    assert (params["balance"]["parameter_default"], params["steps"]["parameter_default"]) == (0.5, 10)
    returns = [r["label"] for r in endpoints["/generate"]["returns"]]
    assert returns == ["video_mp4", "mix_wav", "music_wav", "sfx_wav", "report"]  # named, not "1st".."5th"


def test_generate_returns_the_video_with_a_soundtrack_as_long_as_it(server, tiny_checkpoints: Path) -> None:
    import av
    import soundfile as sf
    from gradio_client import handle_file

    from soundtrack.video.decode import probe

    mp4, mix, music, sfx, report = _client(server).predict(
        handle_file(str(CLIP)), tempo=120, instruments="piano,drums:0.5", balance=0.7, seed=3,
        api_name="/generate", **FAST)
    duration = probe(CLIP).duration_s
    assert duration == pytest.approx(8.0, abs=0.05)
    with av.open(mp4) as f:
        (audio,) = f.streams.audio
        assert audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(duration, abs=0.05)
        assert len(f.streams.video) == 1
    for path in (mix, music, sfx):
        info = sf.info(path)
        assert (info.samplerate, info.channels) == (48000, 2)
        assert info.duration == pytest.approx(duration, abs=0.01)
    assert report["settings"]["tempo"] == 120.0 and report["settings"]["seed"] == 3
    assert report["settings"]["instruments"] == {"piano": 1.0, "drums": 0.5}
    assert report["tempo_requested_bpm"] == 120.0 and report["video"]["file"] == CLIP.name
    assert {"tempo", "balance", "total"} <= set(report["scores"]["output"])
    json.dumps(report)  # plain JSON all the way down
    # models by name and hash, never by where they are on the server
    assert set(report["models"]) >= {"vae", "vocoder", "cvsm", "ldm"}
    assert all(re.fullmatch(r"[a-z-]+@[0-9a-f]{10}", m) for m in report["models"].values()), report["models"]
    assert str(tiny_checkpoints) not in json.dumps(report)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"balance": 3}, "balance must be between 0 and 1, got 3"),
    ({"tempo": "nan"}, "tempo must be between 60 and 180, got nan"),
    ({"tempo": "fast"}, "tempo must be a BPM number or 'auto', got 'fast'"),
    ({"steps": "ten"}, "steps must be a whole number, got 'ten'"),
    ({"seed": 1.5}, "seed must be a whole number, got 1.5"),
    ({"instruments": 5}, "instruments must be text like 'piano,strings:0.5', got 5"),
    ({"instruments": "kazoo"}, "unknown instrument family 'kazoo'"),
    ({"mode": "dorian"}, "mode must be 'major' or 'minor', got 'dorian'"),
])
def test_generate_refuses_bad_values_with_their_message(server, kwargs: dict, message: str) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        _client(server).predict(handle_file(str(CLIP)), api_name="/generate", **{**FAST, **kwargs})
    assert message in str(err.value)
    assert "Traceback" not in str(err.value)
    _alive(server)


def test_generate_takes_only_uploaded_files_as_video(server) -> None:
    """A path the caller made up (not an upload Gradio checked) is refused, not read."""
    from gradio_client.exceptions import AppError

    for video in ("/etc/hostname", {"path": str(CLIP)}):
        with pytest.raises(AppError, match="video must be an uploaded file"):
            _client(server).predict(video, api_name="/generate", **FAST)
    _alive(server)


def test_generate_refuses_a_file_that_is_not_a_video(server, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(AppError) as err:
        _client(server).predict(handle_file(str(fake)), api_name="/generate", **FAST)
    assert "notes.mp4" in str(err.value) and "Traceback" not in str(err.value)
    _alive(server)


def test_analyze_api_finds_events_in_a_real_clip(server) -> None:
    from gradio_client import handle_file

    plot, table, summary = _client(server).predict(handle_file(str(ROOT / "assets" / "bikes.mp4")),
                                                   api_name="/analyze")
    rows = table["data"] if isinstance(table, dict) else table
    assert "frames" in summary and "10." in summary  # bikes.mp4 lasts 10 s
    assert rows and all(r[1] in ("cut", "flash", "impact") for r in rows)


def test_bad_upload_is_a_clear_error_not_a_crash(server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(Exception) as err:
        _client(server).predict(handle_file(str(fake)), api_name="/analyze")
    assert "Traceback" not in str(err.value)
    _alive(server)


def test_generate_refuses_nan_sent_as_raw_json(server) -> None:
    """gradio_client will not encode NaN, but a hand-made request can (Python's json reads it)."""
    import httpx

    base = server.url.rstrip("/") + "/gradio_api/call/generate"
    # video, tempo, instruments, balance, intensity, key, mode, seed, steps, snio_iters, guidance, engine
    body = '{"data": [null, "auto", "piano", NaN, 0.8, "C", "major", 0, 2, 1, 3.0, "neural"]}'
    event = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=10).json()
    answer = httpx.get(f"{base}/{event['event_id']}", timeout=30).text
    assert "event: error" in answer and "balance must be between 0 and 1, got nan" in answer, answer
    _alive(server)
