"""Where the metadata comes from: a file, stdin, the ``HARDWARE`` variable (a Tinkerbell
action's), or a metadata service.

The service is retried with capped exponential backoff. Each attempt (with requests)
has one deadline for connecting, the headers and the whole body, since a socket timeout
only bounds each read. The body has a size limit, and an answer that is neither a JSON
object nor a YAML resource (a Tinkerbell Hardware: documents.is_yaml_answer) is a failed
attempt too: a truncated or half-deployed answer is usually transient.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Optional

from . import __version__, inputs
from .errors import FetchFailed, NoMetadataSource
from .metadata import documents

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger as Log

# The variable a Tinkerbell Template fills with the document (docs/tinkerbell.md). There
# is no default URL: Equinix Metal's service (metadata.packet.net) is gone since 2026-06-30,
# and ten attempts at a dead host only delay the one line that says what to pass.
HARDWARE = "HARDWARE"
NO_SOURCE = (
    "no metadata source: pass -M FILE (- for stdin) or --metadata-url URL, "
    f"or set {HARDWARE} to the document"
)
MAX_BYTES = 4 * 2**20  # real documents are ~10 KiB; ssh keys and userdata stay well under
MAX_REDIRECTS = 5


class Retry:
    """``timeout``: seconds, for one whole request and body; ``delay``: the first
    backoff, doubling each time up to ``max_delay``."""

    __slots__ = ("attempts", "timeout", "delay", "max_delay")

    def __init__(
        self,
        attempts: int = 10,
        timeout: float = 10.0,
        delay: float = 1.0,
        max_delay: float = 30.0,
    ) -> None:
        self.attempts, self.timeout, self.delay, self.max_delay = (
            attempts,
            timeout,
            delay,
            max_delay,
        )


def read_file(path: str) -> bytes:
    """-M's document: ``-`` is stdin (not a terminal), anything else a regular file."""
    if path == "-":
        if sys.stdin.isatty():
            raise NoMetadataSource(
                "--metadata-file '-': stdin is a terminal; pipe the document in or name a file"
            )
        try:
            return sys.stdin.buffer.read(MAX_BYTES + 1)
        except OSError as exc:  # stdin a directory: EISDIR
            raise NoMetadataSource(f"--metadata-file '-': stdin: {exc.strerror}") from None
    try:
        with open(inputs.open_regular(path), "rb") as f:
            return f.read(MAX_BYTES + 1)
    except inputs.NotRegular as exc:
        raise NoMetadataSource(f"--metadata-file {path!r}: is {exc.what}, not a file") from None
    except OSError as exc:
        raise NoMetadataSource(f"--metadata-file {path!r}: {exc.strerror}") from None


def from_environment(environ: Optional[Mapping[bytes, bytes]] = None) -> Optional[bytes]:
    """The document in ``HARDWARE``, as bytes (the text a Template rendered into it), or
    None when it is unset or empty (an empty value is no document: a Template whose
    expression rendered nothing)."""
    environ = os.environb if environ is None else environ
    return environ.get(HARDWARE.encode()) or None


def fetch(url: str, retry: Retry, log: Log, sleep: Callable[[float], None] = time.sleep) -> bytes:
    """GET the metadata document, retrying; ``FetchFailed`` with the last error."""
    if not url:
        raise NoMetadataSource(NO_SOURCE)
    import requests  # ~60 ms to import: only runs that fetch from a URL pay for it

    last_error = "no attempt made"
    delay = min(retry.delay, retry.max_delay)
    for attempt in range(1, retry.attempts + 1):
        try:
            try:
                body = _within(retry.timeout, _download, requests, url, retry.timeout)
            except requests.Timeout:
                # requests' own read timeout and our deadline are the same limit and race
                # for a stalled server: report either the same way.
                raise TimeoutError(f"no complete answer within {retry.timeout:g} s") from None
            if not documents.is_yaml_answer(body):  # a Hardware may come as YAML
                json_object_or_raise(body)
            log.debug("metadata fetched", url=url, attempt=attempt, bytes=len(body))
            return body
        except (OSError, ValueError, requests.RequestException) as exc:
            last_error = _describe(exc)
        if attempt < retry.attempts:
            log.warning(
                "metadata fetch failed", url=url, attempt=attempt, error=last_error, retry_in=delay
            )
            sleep(delay)
            delay = min(delay * 2, retry.max_delay)
    raise FetchFailed(
        f"metadata could not be fetched from {url!r} after {retry.attempts} attempts: {last_error}"
    )


def _within(timeout: float, func: Callable[..., bytes], *args: object) -> bytes:
    """Run one attempt in a worker thread and stop waiting for it at the deadline.

    A socket timeout only bounds each read: a server that trickles a byte a second would
    never trip it. The abandoned worker is a daemon, still bounded by that per-read
    timeout, and cannot hold the process up."""
    import threading  # with requests (which imports it anyway): a file needs neither

    outcome: dict[str, object] = {}

    def attempt() -> None:
        try:
            outcome["body"] = func(*args)
        except BaseException as exc:  # handed over to the caller as is
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, name="metadata-fetch", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no complete answer within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["body"]  # type: ignore[return-value]


def _download(requests: ModuleType, url: str, timeout: float) -> bytes:
    """One GET: the body of a 200 answer (redirects followed), within the size limit."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    with requests.Session() as session:
        session.max_redirects = MAX_REDIRECTS
        # The service sits on the provisioning link: no proxy from the environment.
        session.trust_env = False
        headers = {"Accept": "application/json", "User-Agent": f"packet-networking/{__version__}"}
        with session.get(url, headers=headers, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code} {response.reason}")
            declared = response.headers.get("Content-Length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > MAX_BYTES:
                raise ValueError(f"body of {declared} bytes is over the {MAX_BYTES}-byte limit")
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise ValueError(f"body over the {MAX_BYTES}-byte limit")
                chunks.append(chunk)
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
