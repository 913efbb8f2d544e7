"""Which resolvers a run writes: ``--resolvers`` (or ``PACKET_RESOLVERS``), else the
document's own (a Hardware's ``name_servers``), else this host's ``/etc/resolv.conf``,
else Equinix Metal's. Every one passes the checks an address in the document does.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from . import source
from .errors import InvalidMetadata, InvalidOption
from .metadata import IPAddress, Metadata, parse_resolvers

# Equinix Metal's public resolvers: the last resort when nothing else names any.
FALLBACK_RESOLVERS = ("147.75.207.207", "147.75.207.208")


def choose(
    given: Optional[str], origin: str, document: Metadata, log: Any
) -> tuple[IPAddress, ...]:
    """--resolvers (or PACKET_RESOLVERS), else the document's own, else the host's."""
    if given is not None:
        return resolver_list(given, origin)
    if document.resolvers:
        return document.resolvers
    values = source.resolvers_from_host()
    if not values:
        log.info("no resolvers given or found on this host; using Equinix Metal's")
        values = list(FALLBACK_RESOLVERS)
    return parse_resolvers(values, "/etc/resolv.conf")


def resolver_list(text: str, origin: str) -> tuple[IPAddress, ...]:
    """A resolver list the operator gave ("a,b"), checked; errors name ``origin``."""
    values = [v.strip(" ") for v in text.split(",") if v.strip(" ")]
    if not values:  # "," or " ": a list given on purpose, with nothing in it
        raise InvalidOption(origin, text, "names no resolver")
    try:
        return parse_resolvers(values, origin)
    except InvalidMetadata as exc:  # the operator's input, not the metadata's
        raise InvalidOption(exc.field, exc.value, exc.reason) from None


def resolvers_option(cli_value: Optional[str]) -> tuple[Optional[str], str]:
    """--resolvers wins over PACKET_RESOLVERS; both are checked the same way."""
    if cli_value is not None:
        return cli_value, "--resolvers"
    env = os.environ.get("PACKET_RESOLVERS")
    return (env, "PACKET_RESOLVERS") if env else (None, "--resolvers")
