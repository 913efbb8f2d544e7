"""The one check every renderer puts a value through before it reaches a file.

The Plan's values are validated addresses, MACs and names that need no special
character at all; this check makes each file's structure independent of that, whatever
reached the Plan (a hook's change included). A control character (a newline above all)
would start a line of its own in every format; beyond that each format names the
characters its syntax gives a meaning where the value goes (a quote inside quotes, a
``[`` or ``=`` in an INI file).
"""

from __future__ import annotations

import re

_CONTROL = "\x00-\x1f\x7f"


def checked(value: str, where: str, special: str = "") -> str:
    """``value`` unchanged, or ValueError naming ``where`` if it holds a control
    character or any character of ``special``."""
    if re.search(f"[{_CONTROL}{re.escape(special)}]", value):
        raise ValueError(f"unsafe value for {where}: {value!r}")
    return value


def checked_key(key: str, where: str, pattern: re.Pattern[str]) -> str:
    """A key (a variable or setting name) must be all of its format's ``pattern``."""
    if not pattern.fullmatch(key):
        raise ValueError(f"bad key for {where}: {key!r}")
    return key
