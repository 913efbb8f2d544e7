"""Reading one value of a parsed document, the same way for every format: what counts
as not given, how a value is shown in a message, and an IP address with the checks every
address gets (no IPv6 scope: it could carry any character into a file).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Optional, Union

from ..errors import InvalidMetadata

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def ip_address(raw: object, path: str, family: Optional[int] = None) -> IPAddress:
    if not isinstance(raw, str):
        raise InvalidMetadata(path, raw, "must be a string (an IP address)")
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        raise InvalidMetadata(path, raw, "is not an IP address") from None
    # Python accepts an IPv6 scope ("fe80::1%eth0") of any characters but '%' and '/',
    # newlines included, and prints it back: it must never reach a config file.
    if "%" in raw:
        raise InvalidMetadata(path, raw, "must not carry a scope (%...)")
    if family is not None and ip.version != family:
        raise InvalidMetadata(path, raw, f"is not an IPv{family} address")
    return ip


def given(value: object) -> object:
    """Null and "" mean "not given"; any other value, of whatever type, goes on to the
    validator: a ``[]`` or ``0`` is refused, not mistaken for absent."""
    return None if value == "" else value


def unless_na(value: object) -> object:
    """Installers fill unknown OS fields with "n/a" (lsb_release does): that means none."""
    if isinstance(value, str) and value.lower() == "n/a":
        return None
    return given(value)


def excerpt(raw: object) -> object:
    if isinstance(raw, (str, bytes)) and len(raw) > 40:
        return raw[:40]
    if isinstance(raw, (list, dict)):
        return type(raw).__name__
    return raw


def require(item: Mapping[str, Any], key: str, path: str) -> object:
    """``item[key]``, refused as missing when absent or null; ``path`` is the item's own
    (empty at the top of the document)."""
    if item.get(key) is None:
        raise InvalidMetadata(f"{path}.{key}" if path else key, None, "is missing")
    return item[key]


def mapping(raw: object, path: str, what: str = "a mapping (an object)") -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidMetadata(path, excerpt(raw), f"must be {what}")
    return raw


def listed(raw: object, path: str, what: str = "a list") -> list[Any]:
    if not isinstance(raw, list):
        raise InvalidMetadata(path, excerpt(raw), f"must be {what}")
    return raw


def or_empty(raw: object) -> object:
    """An absent mapping reads as an empty one (Go's omitempty leaves it out)."""
    return {} if raw is None else raw
