"""The studio API on bad, odd and hostile input, and its security boundaries (real server from
tests/studio/conftest.py, tiny model; docs/RELIABILITY.md lists every case).

Bad input comes back as a one-line gr.Error (gradio_client raises AppError with it) and the
server stays up; odd but valid videos work; the API reads only uploads, the server listens on
loopback only, and uploads over max_file_size are refused.
"""
from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.test_reliability import BAD, make_input

ROOT = Path(__file__).resolve().parents[2]
FAST = {"steps": 2, "snio_iters": 0}
# /generate's parameters in order, after the video (the last: the engine)
TAIL = ["auto", "piano", 0.5, 0.8, "C", "major", 0, 2, 0, 3.0, "neural"]


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api-inputs")


def _alive(server) -> None:
    assert server.proc.poll() is None, server.log_text()[-3000:]
    with urllib.request.urlopen(server.url, timeout=10) as r:
        assert r.status == 200


def _work(server) -> Path:
    """The server's folder: ab.sqlite, takes/ (SOUNDTRACK_STUDIO_DIR), gradio/ (GRADIO_TEMP_DIR)."""
    return server.ab_db.parent


def _raw_call(server, api: str, data: list) -> str:
    """POST /gradio_api/call/API with hand-made JSON, then the whole event stream as text."""
    base = server.url.rstrip("/") + f"/gradio_api/call/{api}"
    answer = httpx.post(base, content=json.dumps({"data": data}),
                        headers={"Content-Type": "application/json"}, timeout=10)
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text}"
    return httpx.get(f"{base}/{answer.json()['event_id']}", timeout=60).text


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("api", ["/generate", "/analyze"])
@pytest.mark.parametrize(("kind", "words"), [("empty", "is empty (0 bytes)"), *BAD])
def test_a_bad_video_is_a_one_line_error_and_the_server_stays_up(server, client, inputs, api, kind, words):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    video = inputs / f"{kind}.mp4"
    if not video.exists():
        make_input(kind, inputs)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(video)), api_name=api, **(FAST if api == "/generate" else {}))
    message = str(err.value)
    assert message.startswith(video.name) and words in message, message
    assert "\n" not in message and "Traceback" not in message
    _alive(server)


@pytest.mark.parametrize(("kind", "seconds"), [("one_frame", 0.04), ("vfr", 1.94), ("rotated", 1.0)])
def test_odd_but_valid_videos_work_through_the_api(server, client, inputs, kind, seconds):
    import soundfile as sf
    from gradio_client import handle_file

    video = make_input(kind, inputs)
    mp4, mix, music, sfx, report = client.predict(handle_file(str(video)), api_name="/generate", **FAST)
    for path in (mix, music, sfx):
        assert sf.info(path).frames == round(seconds * 48000)
    assert report["video"]["duration_s"] == pytest.approx(seconds, abs=1e-3) and Path(mp4).stat().st_size > 0
    plot, table, summary = client.predict(handle_file(str(video)), api_name="/analyze")
    assert "frames" in summary


@pytest.mark.parametrize(("name", "served_as"), [
    ("vidéo ☃ ..x.mp4", "vidéo ☃ ..x.mp4"),
    ("pipe:1.mp4", "pipe1.mp4"),  # Gradio drops the ':' from upload names
    ("it's \"quoted\" $(x).mp4", "it's %22quoted%22 (x).mp4"),
])
def test_odd_upload_names_work(server, client, tmp_path, name, served_as):
    from gradio_client import handle_file

    video = make_input("one_frame", tmp_path, name)
    *_, report = client.predict(handle_file(str(video)), api_name="/generate", **FAST)
    assert report["video"]["file"] == served_as


def test_upload_names_cannot_leave_the_upload_folder(server):
    """Gradio keeps only the last part of a multipart file name."""
    url = server.url.rstrip("/") + "/gradio_api/upload"
    for name in ("../../../../tmp/escaped.mp4", "/tmp/escaped.mp4"):
        answer = httpx.post(url, files={"files": (name, b"not a video", "video/mp4")}, timeout=10)
        assert answer.status_code == 200, answer.text
        (stored,) = answer.json()
        assert Path(stored).resolve().is_relative_to((_work(server) / "gradio").resolve()), stored
        assert Path(stored).name == "escaped.mp4"
    assert httpx.post(url, files={"files": ("..", b"x", "video/mp4")}, timeout=10).status_code == 400
    _alive(server)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"balance": True}, "balance must be a number, got True"),
    ({"balance": -0.1}, "balance must be between 0 and 1, got -0.1"),
    ({"intensity": 0.5}, "intensity must be between 0.6 and 1, got 0.5"),
    ({"guidance": 16}, "guidance must be between 1 and 15, got 16"),
    ({"steps": 201}, "steps must be between 1 and 200, got 201"),
    ({"steps": None}, "steps must be a whole number, got None"),
    ({"snio_iters": -1}, "snio_iters must be between 0 and 50, got -1"),
    ({"seed": 2**31}, "seed must be between 0 and 2147483647, got 2147483648"),
    ({"seed": "3"}, "seed must be a whole number, got '3'"),
    ({"key": 12}, "key must be a pitch class 0-11"),
    ({"key": "H"}, "unknown key 'H'"),
    ({"mode": 5}, "mode must be one of"),
    ({"tempo": [120]}, "tempo must be a number, got [120]"),
    ({"tempo": {"bpm": 120}}, "tempo must be a number"),
    ({"tempo": 10**400}, "tempo must be between 60 and 180, got inf"),  # a JSON int too big for a float
    ({"instruments": ""}, "instruments: name at least one family"),
    ({"instruments": "piano:nan"}, "weight of piano must be between 0 and 1, got nan"),
    ({"instruments": ["piano"]}, "instruments must be text like 'piano,strings:0.5'"),
    ({"instruments": {"piano": 2}}, "weight of piano must be between 0 and 1, got 2"),
    ({"instruments": {"piano": "loud"}}, "weight of piano must be a number, got 'loud'"),
])
def test_out_of_range_and_wrong_typed_controls_are_one_line_errors(server, client, inputs, kwargs, message):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    video = inputs / "one_frame.mp4"
    if not video.exists():
        make_input("one_frame", inputs)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(video)), api_name="/generate", **{**FAST, **kwargs})
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    _alive(server)


@pytest.mark.parametrize(("index", "literal", "message"), [
    (3, "Infinity", "balance must be between 0 and 1, got inf"),
    (10, "-Infinity", "guidance must be between 1 and 15, got -inf"),
    (8, "NaN", "steps must be a whole number, got nan"),
    (1, "1e999", "tempo must be between 60 and 180, got inf"),
])
def test_non_finite_numbers_in_raw_json_are_refused(server, index, literal, message):
    """gradio_client will not send NaN or Infinity; a hand-made request can."""
    parts: list[object] = [None, *TAIL]
    parts[index] = "@@"
    body = json.dumps({"data": parts}).replace('"@@"', literal)
    base = server.url.rstrip("/") + "/gradio_api/call/generate"
    event = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=10).json()
    answer = httpx.get(f"{base}/{event['event_id']}", timeout=30).text
    assert "event: error" in answer and message in answer, answer
    _alive(server)


# -------------------------------------------------------------------------------------- security
def _secrets(server, tiny_checkpoints: Path) -> list[str]:
    """Files the API must never hand out."""
    return ["/etc/passwd", str(server.ab_db), str(server.log), str(tiny_checkpoints / "vae" / "config.json"),
            str(ROOT / "app.py")]


def test_the_api_reads_no_file_but_uploads(server, tiny_checkpoints):
    """A FileData naming a server path (absolute, relative, with '..', as a file: URL or a
    loopback/link-local URL) is refused by Gradio before the handler runs; a bare string
    is refused by the handler."""
    payloads: list[object] = [
        *({"path": p, "meta": {"_type": "gradio.FileData"}} for p in _secrets(server, tiny_checkpoints)),
        {"path": "../../../../../../etc/passwd", "meta": {"_type": "gradio.FileData"}},
        {"path": str(_work(server) / "gradio" / ".." / ".." / ".." / "etc" / "passwd"),
         "meta": {"_type": "gradio.FileData"}},
        {"path": "file:///etc/passwd", "meta": {"_type": "gradio.FileData"}},
        {"path": "x.mp4", "url": server.url + "gradio_api/file=/etc/passwd",
         "meta": {"_type": "gradio.FileData"}},
        {"path": server.url + "gradio_api/info", "meta": {"_type": "gradio.FileData"}},
        {"path": "http://169.254.169.254/latest/meta-data/", "meta": {"_type": "gradio.FileData"}},
        "/etc/passwd", "../../etc/passwd", {"path": "/etc/passwd"},
    ]
    for video in payloads:
        for api, data in (("generate", [video, *TAIL]), ("analyze", [video])):
            answer = _raw_call(server, api, data)
            assert "event: error" in answer or answer.startswith("HTTP 4"), (video, answer)
            assert "root:" not in answer and "event: complete" not in answer, (video, answer)
    assert "InvalidPathError" in server.log_text()  # Gradio's refusal, logged server-side
    _alive(server)


@pytest.mark.parametrize("route", ["/gradio_api/file=", "/file=", "/gradio_api/file=..%2F..%2F"])
def test_the_file_route_serves_nothing_outside_the_allowed_folders(server, tiny_checkpoints, route):
    base = server.url.rstrip("/")
    for secret in _secrets(server, tiny_checkpoints):
        answer = httpx.get(base + route + secret, timeout=10)
        assert answer.status_code in (403, 404), (secret, answer.status_code)
        assert "root:" not in answer.text and "CREATE TABLE" not in answer.text
    for tricky in ("/gradio_api/file=" + str(_work(server) / "gradio") + "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                   "/gradio_api/file=%2Fetc%2Fpasswd", "/gradio_api/file=~/.bashrc"):
        answer = httpx.get(base + tricky, timeout=10)
        assert answer.status_code in (403, 404) and "root:" not in answer.text, (tricky, answer.status_code)


def test_the_server_listens_on_loopback_only_by_default(server):
    """app.py without --host (and without GRADIO_SERVER_NAME) binds 127.0.0.1."""
    import psutil

    listening = [c.laddr for c in psutil.Process(server.proc.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    port = listening[0].port
    others = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
              if a.family == socket.AF_INET and not a.address.startswith("127.")]
    for ip in others:  # every other interface of this machine refuses the connection
        with socket.socket() as s, pytest.raises(OSError):
            s.settimeout(2)
            s.connect((ip, port))


def test_an_upload_over_the_size_limit_is_refused_and_not_kept(server):
    """app.py sets max_file_size="200mb": a 201 MiB body is cut off with 413 as soon as it
    passes the limit, and the partial upload is deleted."""
    boundary = "reliability-boundary"

    def body():
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="huge.mp4"\r\n'
               "Content-Type: video/mp4\r\n\r\n").encode()
        chunk = bytes(1 << 20)
        for _ in range(201):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    answer = httpx.post(server.url.rstrip("/") + "/gradio_api/upload", content=body(), timeout=120,
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 413 and "maximum allowed size of 209715200 bytes" in answer.text, answer.text
    big = [p for p in (_work(server) / "gradio").rglob("*") if p.is_file() and p.stat().st_size > 50 << 20]
    assert big == []
    _alive(server)


# ---------------------------------------------------------------------------------- temp folders
def test_the_api_keeps_only_its_newest_take_folders(tmp_path, monkeypatch):
    from soundtrack.studio.api import _fresh_dir

    made = []
    for k in range(20):
        made.append(_fresh_dir(tmp_path / "api", keep=8))
        (made[-1] / "mix.wav").write_bytes(bytes(1000))
        os.utime(made[-1], (k, k))  # strictly increasing modification times
    left = sorted(p.name for p in (tmp_path / "api").iterdir())
    assert left == sorted(p.name for p in made[-8:])


def test_the_servers_take_folders_stay_bounded(server, client, inputs):
    """After every /generate of this module (and test_app), at most 8 API take folders."""
    from gradio_client import handle_file

    video = inputs / "one_frame.mp4"
    if not video.exists():
        make_input("one_frame", inputs)
    client.predict(handle_file(str(video)), api_name="/generate", **FAST)
    api = _work(server) / "takes" / "api"
    assert api.is_dir() and 1 <= len(list(api.iterdir())) <= 8
    _alive(server)
