"""Where the metadata comes from: a file, stdin, or the metadata service.

The service is retried with capped exponential backoff. Each attempt has one deadline
for connecting, the headers and the whole body: a watchdog shuts the socket when it
passes, since a socket timeout only bounds each read and a server that trickles a byte
a second would never trip it. The body has a size limit, and an answer that is not a
JSON object is a failed attempt too: a truncated or half-deployed answer is usually
transient. The service is asked directly (stdlib ``http.client``, no proxy): it is a
link on the provisioning network, and every byte read is under our control.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import sys
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Callable, Optional

import attrs

from . import __version__
from .errors import FetchFailed, NoMetadataSource

if TYPE_CHECKING:
    import http.client

DEFAULT_URL = "http://metadata.packet.net/metadata"
MAX_BYTES = 4 * 2**20  # real documents are ~10 KiB; ssh keys and userdata stay well under
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


@attrs.frozen
class Retry:
    attempts: int = 10
    timeout: float = 10.0  # seconds, for one whole request and body
    delay: float = 1.0  # first backoff; doubles each time
    max_delay: float = 30.0


def read_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read(MAX_BYTES + 1)
    try:
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise NoMetadataSource(f"--metadata-file {path}: {exc.strerror}") from None


def fetch(url: str, retry: Retry, log, sleep: Callable[[float], None] = time.sleep) -> bytes:
    """GET the metadata document, retrying; ``FetchFailed`` with the last error."""
    if not url:
        raise NoMetadataSource("no metadata source: pass -M FILE or --metadata-url URL")
    import http.client  # ~8 ms with the email package it loads: only URLs need it

    last_error = "no attempt made"
    delay = min(retry.delay, retry.max_delay)
    for attempt in range(1, retry.attempts + 1):
        try:
            body = _get(url, retry.timeout)
            json_object_or_raise(body)
            log.debug("metadata fetched", url=url, attempt=attempt, bytes=len(body))
            return body
        except (OSError, ValueError, http.client.HTTPException) as exc:
            last_error = _describe(exc)
        if attempt < retry.attempts:
            log.warning(
                "metadata fetch failed", url=url, attempt=attempt, error=last_error, retry_in=delay
            )
            sleep(delay)
            delay = min(delay * 2, retry.max_delay)
    raise FetchFailed(
        f"metadata could not be fetched from {url} after {retry.attempts} attempts: {last_error}"
    )


def _get(url: str, timeout: float) -> bytes:
    """One attempt: the body of a 200 answer, following a few redirects, within ``timeout``."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        body, location = _request(url, deadline, timeout)
        if location is None:
            return body
        url = urllib.parse.urljoin(url, location)
    raise ValueError(f"more than {MAX_REDIRECTS} redirects")


def _request(url: str, deadline: float, timeout: float) -> tuple[bytes, Optional[str]]:
    """(body, None) for a 200 answer, (b"", location) for a redirect; raises otherwise."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=max(deadline - time.monotonic(), 0.001))
    expired = threading.Event()
    watchdog = None
    try:
        conn.connect()  # bounded by the socket timeout; the watchdog takes over from here
        # The socket itself, not conn.sock: http.client drops that once the answer
        # says the connection will close, while the body is still to be read from it.
        remaining = max(deadline - time.monotonic(), 0.0)
        watchdog = threading.Timer(remaining, _cut, (conn.sock, expired))
        watchdog.daemon = True
        watchdog.start()
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        agent = f"packet-networking/{__version__}"
        conn.request("GET", path, headers={"Accept": "application/json", "User-Agent": agent})
        with contextlib.closing(conn.getresponse()) as response:
            location = response.getheader("Location")
            if response.status in _REDIRECTS and location:
                return b"", location
            if response.status != 200:
                raise ValueError(f"HTTP {response.status} {response.reason}")
            return _read_body(response), None
    except Exception:
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout:g} s") from None
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
        conn.close()


def _cut(sock: socket.socket, expired: threading.Event) -> None:
    """The deadline passed: wake whatever read is blocked on this connection."""
    expired.set()
    with contextlib.suppress(OSError):  # already closed: nothing is blocked on it
        sock.shutdown(socket.SHUT_RDWR)


def _read_body(response: http.client.HTTPResponse) -> bytes:
    declared = response.getheader("Content-Length", "")
    expected = int(declared) if declared.isascii() and declared.isdigit() else None
    if expected is not None and expected > MAX_BYTES:
        raise ValueError(f"body of {expected} bytes is over the {MAX_BYTES}-byte limit")
    chunks, size = [], 0
    while True:
        chunk = response.read1(65536)  # what has arrived: never waits to fill a buffer
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_BYTES:
            raise ValueError(f"body over the {MAX_BYTES}-byte limit")
        chunks.append(chunk)
    if expected is not None and size < expected:
        raise ValueError(f"body truncated: {size} of {expected} bytes")
    return b"".join(chunks)


def json_object_or_raise(body: bytes) -> None:
    try:
        document = json.loads(body)
    except RecursionError:
        raise ValueError("the answer nests too deeply to be metadata") from None
    if not isinstance(document, dict):
        raise ValueError("the answer is JSON but not an object")


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def resolvers_from_host(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """This host's nameservers, except loopback stubs that mean nothing on the target."""
    try:
        with open(resolv_conf) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and _usable(words[1]):
            found.append(words[1])
    return found


def _usable(address: str) -> bool:
    """Loopback stubs (127.0.0.53) and scoped link-local addresses (fe80::1%eth0, an
    interface of this installer) mean nothing on the target."""
    if "%" in address:
        return False
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
