"""Where the metadata comes from: a file, stdin, or the metadata service.

The service is retried with capped exponential backoff. Every attempt has a deadline
for the whole body (a server that trickles bytes forever counts as a failure) and a
size limit; a body that is not a JSON object is a failed attempt too, since a truncated
or half-deployed answer is usually transient.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from typing import Callable

import attrs

from .errors import FetchFailed, NoMetadataSource

DEFAULT_URL = "http://metadata.packet.net/metadata"
MAX_BYTES = 4 * 2**20  # real documents are ~10 KiB; ssh keys and userdata stay well under


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
    import requests  # only this path needs it, and it costs ~60 ms to import

    session = requests.Session()
    last_error = "no attempt made"
    for attempt in range(1, retry.attempts + 1):
        try:
            body = _get(session, url, retry.timeout)
            json_object_or_raise(body)
            log.debug("metadata fetched", url=url, attempt=attempt, bytes=len(body))
            return body
        except (requests.RequestException, ValueError) as exc:
            last_error = _describe(exc)
        if attempt < retry.attempts:
            delay = min(retry.delay * 2 ** (attempt - 1), retry.max_delay)
            log.warning(
                "metadata fetch failed", url=url, attempt=attempt, error=last_error, retry_in=delay
            )
            sleep(delay)
    raise FetchFailed(
        f"metadata could not be fetched from {url} after {retry.attempts} attempts: {last_error}"
    )


def _get(session, url: str, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    with session.get(url, timeout=timeout, stream=True) as response:
        response.raise_for_status()
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_BYTES:
                raise ValueError(f"body larger than {MAX_BYTES} bytes")
            if time.monotonic() > deadline:
                raise ValueError(f"body not received within {timeout} s")
            chunks.append(chunk)
        return b"".join(chunks)


def json_object_or_raise(body: bytes) -> None:
    if not isinstance(json.loads(body), dict):
        raise ValueError("the answer is JSON but not an object")


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


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
    """Loopback stubs (127.0.0.53) and scoped link-local addresses mean nothing there."""
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
