"""The metadata service misbehaving, served for real on loopback: retries, timeouts, limits.

A stdlib HTTP server in a thread answers each request from a script: 500, 503, 404, a
body cut short, non-JSON, a JSON array, a body trickled a byte at a time, a connection
that is accepted and never answered, and finally the document. The CLI must succeed
when the document comes within ``--max-attempts``, exit 70 with the last error when it
does not, back off doubling up to a cap, and bound every attempt by ``--timeout``.
Every handler is bounded in time and the server is stopped by the fixture.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import factories as f
import pytest
import safety
import structlog
from structlog.testing import capture_logs
from treehash import snapshot

from packetnetworking import source
from packetnetworking.errors import FetchFailed

GOOD = json.dumps(f.metadata(os=("debian", "12"))).encode()
HANDLER_LIMIT = 5.0  # seconds any handler may take, whatever the client does

Answer = Callable[[BaseHTTPRequestHandler], None]


def status(code: int) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(code)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return answer


def body(data: bytes, declared: int | None = None) -> Answer:
    """200 with ``data``; ``declared`` lies about the length (then the server closes)."""

    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if declared != -1:
            h.send_header("Content-Length", str(len(data) if declared is None else declared))
        h.end_headers()
        h.wfile.write(data)
        h.close_connection = True

    return answer


def redirect(location: str) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return answer


# How much earlier than the client's own delay a server-side gap may end: the two sides
# take their timestamps at slightly different instants.
CLOCK_SLACK = 0.05


def trickle(h: BaseHTTPRequestHandler) -> None:
    """The whole document, one byte every 50 ms: 70 s for the body, unless cut off."""
    h.send_response(200)
    h.send_header("Content-Length", str(len(GOOD)))
    h.end_headers()
    started = time.monotonic()
    try:
        for i in range(len(GOOD)):
            if h.server.stop.wait(0.05) or time.monotonic() - started > HANDLER_LIMIT:
                return
            h.wfile.write(GOOD[i : i + 1])
            h.wfile.flush()
    except OSError:
        return  # the client hung up: what it should do


def stall(h: BaseHTTPRequestHandler) -> None:
    """Accept, read the request, never answer."""
    h.server.stop.wait(HANDLER_LIMIT)
    h.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, answers: list[Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers
        self.times: list[float] = []
        self.paths: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/metadata"

    def handle_error(self, request, client_address) -> None:
        pass  # a client hanging up mid-answer is the point of several answers

    def next_answer(self, path: str) -> Answer:
        with self.lock:
            self.times.append(time.monotonic())
            self.paths.append(path)
            return self.answers[min(len(self.times), len(self.answers)) - 1]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.server.next_answer(self.path)(self)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def serve():
    servers = []

    def start(*answers: Answer) -> Server:
        server = Server(list(answers))
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop.set()
        server.shutdown()
        server.server_close()


def _run(tmp_path: Path, url: str, attempts: int, *extra: str):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    meta, nics = safety.inputs(tmp_path)
    argv = ["--metadata-url", url, "--nics", str(nics), "--rootfs", str(root), "-o", safety.OS]
    argv += ["--resolvers", "1.1.1.1", "--log-format", "json", "--max-attempts", str(attempts)]
    argv += ["--retry-delay", "0.01", "--timeout", "0.5", *extra]
    return safety.cli_subprocess(argv), root


def _warnings(stderr: str) -> list[str]:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [e["error"] for e in events if e.get("event") == "metadata fetch failed"]


FLAKY = [
    status(500), status(503), status(404), body(GOOD[:100], declared=len(GOOD)),
    body(b"<html>busy</html>"), body(b"[1, 2, 3]"), trickle, stall,
]  # fmt: skip
EXPECTED_ERRORS = [
    "HTTP 500", "HTTP 503", "HTTP 404", "IncompleteRead(100 bytes read", "Expecting value",
    "JSON but not an object", "no complete answer within 0.5 s", "no complete answer within 0.5 s",
]  # fmt: skip


def test_succeeds_once_the_service_does(tmp_path: Path, serve):
    server = serve(*FLAKY, body(GOOD))
    proc, root = _run(tmp_path, server.url, len(FLAKY) + 1)
    assert proc.returncode == 0, proc.stderr
    assert len(server.times) == len(FLAKY) + 1
    errors = _warnings(proc.stderr)
    assert len(errors) == len(FLAKY)
    for error, expected in zip(errors, EXPECTED_ERRORS):
        assert expected in error, errors
    assert (root / "etc/network/interfaces").is_file()
    # The trickled body and the stall each cost one --timeout (0.5 s), not 70 s or more:
    # request 7 trickles, 8 stalls, 9 succeeds; the backoff before them is 0.64 and 1.28 s.
    trickled = server.times[7] - server.times[6]
    stalled = server.times[8] - server.times[7]
    # The lower bounds allow CLOCK_SLACK: the client starts its clocks a little before the
    # server stamps the request it answers (1.2 ms early was seen under load).
    assert 0.5 + 0.64 - CLOCK_SLACK <= trickled < 0.5 + 0.64 + 1.5, trickled
    assert 0.5 + 1.28 - CLOCK_SLACK <= stalled < 0.5 + 1.28 + 1.5, stalled


def test_gives_up_with_the_last_error(tmp_path: Path, serve):
    server = serve(*FLAKY, body(GOOD))
    proc, root = _run(tmp_path, server.url, len(FLAKY))
    assert proc.returncode == 70, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"packet-networking: metadata could not be fetched from {server.url!r}")
    assert f"after {len(FLAKY)} attempts: TimeoutError: no complete answer within 0.5 s" in last
    assert "Traceback" not in proc.stderr
    assert len(server.times) == len(FLAKY)
    assert snapshot(root) == {}


def test_backoff_doubles_between_requests(tmp_path: Path, serve):
    server = serve(*[status(500)] * 5, body(GOOD))
    proc, _ = _run(tmp_path, server.url, 6, "--retry-delay", "0.05")
    assert proc.returncode == 0, proc.stderr
    gaps = [b - a for a, b in zip(server.times, server.times[1:])]
    expected = [0.05, 0.1, 0.2, 0.4, 0.8]
    for gap, delay in zip(gaps, expected):
        assert delay - CLOCK_SLACK <= gap < delay + 0.5, (gaps, expected)


def _refused_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/metadata"  # closed again: connections are refused


def _sleeps(retry: source.Retry, url: str) -> tuple[list[float], str]:
    slept: list[float] = []
    with pytest.raises(FetchFailed) as caught, capture_logs():
        source.fetch(url, retry, structlog.get_logger(), sleep=slept.append)
    return slept, str(caught.value)


def test_backoff_is_capped(serve):
    server = serve(status(500))
    retry = source.Retry(attempts=8, timeout=1, delay=0.1, max_delay=0.5)
    slept, error = _sleeps(retry, server.url)
    assert slept == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5, 0.5]
    assert error.endswith("after 8 attempts: ValueError: HTTP 500 Internal Server Error")
    assert len(server.times) == 8


def test_default_backoff_and_many_attempts():
    slept, error = _sleeps(source.Retry(attempts=10), _refused_port())
    assert slept == [1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert "ConnectionError" in error and "Failed to estab" in error
    # 2**1100 seconds would not fit a float: the delay is capped before it grows that far.
    slept, _ = _sleeps(source.Retry(attempts=1100, timeout=1), _refused_port())
    assert max(slept) == 30 and len(slept) == 1099


def test_a_trickled_body_costs_one_timeout(serve):
    server = serve(trickle)
    started = time.monotonic()
    slept, error = _sleeps(source.Retry(attempts=1, timeout=0.5), server.url)
    assert time.monotonic() - started < 0.5 + 1.0
    assert "no complete answer within 0.5 s" in error and slept == []


@pytest.mark.parametrize(
    "answer, words",
    [
        (body(b"{}", declared=source.MAX_BYTES + 1), "over the 4194304-byte limit"),
        (body(b" " * (source.MAX_BYTES + 10) + b"{}", declared=-1), "over the 4194304-byte limit"),
        (body(b"[" * 100_000), "nests too deeply"),
    ],
    ids=["declared", "streamed", "deep"],
)
def test_a_huge_body_is_refused(tmp_path: Path, serve, answer, words):
    server = serve(answer)
    proc, root = _run(tmp_path, server.url, 2)
    assert proc.returncode == 70, proc.stderr
    assert words in proc.stderr.strip().splitlines()[-1]
    assert snapshot(root) == {}


def test_redirects_are_followed_a_few_times(tmp_path: Path, serve):
    server = serve(redirect("/moved"), body(GOOD))
    proc, _ = _run(tmp_path, server.url, 1)
    assert proc.returncode == 0, proc.stderr
    assert server.paths == ["/metadata", "/moved"]
    looping = serve(redirect("/again"))
    slept, error = _sleeps(source.Retry(attempts=1, timeout=2), looping.url)
    assert "TooManyRedirects: Exceeded 5 redirects" in error


def test_only_http_urls(tmp_path: Path):
    proc, _ = _run(tmp_path, "file:///etc/passwd", 1)
    assert proc.returncode == 70
    assert "not an http(s) URL: 'file:///etc/passwd'" in safety.one_line(proc.stderr)
