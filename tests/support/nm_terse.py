"""What NetworkManager parsed, as `nmcli -t` prints it: a connection's properties, and
the splitting of nmcli's terse lines and list values (nm_run.py asks, nm_check.py judges).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Connection:
    """One profile as `nmcli -t connection show UUID` prints it: property -> value."""

    properties: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.properties[key]

    def get(self, key: str, default: str = "") -> str:
        return self.properties.get(key, default)

    def values(self, key: str) -> list[str]:
        """A list property (addresses, dns, routes) as its items."""
        return split_list(self.properties.get(key, ""))

    @property
    def id(self) -> str:
        return self.properties["connection.id"]

    @property
    def filename(self) -> str:
        return self.properties.get("_filename", "")


def split_terse(line: str, fields: int) -> list[str]:
    """A `nmcli -t` line: fields separated by ':', a literal ':' or '\\' escaped by '\\'."""
    out, current, chars = [], [], iter(line)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, ""))
        elif ch == ":" and len(out) < fields - 1:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    if len(out) != fields:
        raise ValueError(f"expected {fields} fields in nmcli line {line!r}")
    return out


def split_list(value: str) -> list[str]:
    """A list property's items: nmcli joins them with ','; '{ ... }' items hold commas."""
    items, depth, current = [], 0, ""
    for ch in value:
        depth += (ch == "{") - (ch == "}")
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current.strip())
    return items
