"""Patterns and attrs validators for every value that can reach a config file.

A validator raises ``InvalidMetadata`` naming the attribute; ``metadata.parse`` adds
the path in the document. The patterns are deliberately narrow: whatever they let
through cannot carry whitespace, quotes, shell or template syntax into a file.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import attrs

from .errors import InvalidMetadata

# Kernel interface names: at most 15 bytes, no '/', no whitespace; we are stricter still.
IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")
# A bond's name: anything else could be a NIC's or "lo", which ifupdown accepts and the
# server never comes up with (a bond named like its own member).
BOND = re.compile(r"bond[0-9]{1,4}")
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Plan slugs, OS names and versions: a plain token.
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
LINK_AGGREGATIONS = ("bonded", "mlag_ha", "individual")
# What attrs calls to validate a field: (instance, attribute, value).
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def fail(attribute: attrs.Attribute[Any], value: object, reason: str) -> None:
    raise InvalidMetadata(attribute.name, value, reason)


def matches(pattern: re.Pattern[str], what: str) -> Validator:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and attribute.default is None:
            return
        if not isinstance(value, str):
            fail(attribute, value, f"must be a string ({what})")
        elif not pattern.fullmatch(value):
            fail(attribute, value, f"is not {what}")

    return check


def host_name(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        fail(attribute, value, "must be a string (an RFC 1123 host name)")
    elif len(value) > 253 or not all(_LABEL.fullmatch(label) for label in value.split(".")):
        fail(attribute, value, "is not an RFC 1123 host name")


def typed(kind: type, what: str) -> Validator:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        # bool is an int in Python; a JSON true is never a valid bond mode or prefix.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            fail(attribute, value, f"must be {what}")

    return check


def in_range(low: int, high: int) -> Validator:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not low <= value <= high:
            fail(attribute, value, f"must be between {low} and {high}")

    return check


def lower_mac(value: object) -> object:
    # Only a MAC is lowered: anything refused is shown as it was given.
    if isinstance(value, str) and value.isascii() and MAC.fullmatch(value.lower()):
        return value.lower()
    return value
