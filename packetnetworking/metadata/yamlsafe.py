"""YAML, read strictly: PyYAML's safe constructor with the holes a safe loader leaves.

Imported only for a document that is not JSON (an Equinix run never loads PyYAML).
A safe loader already refuses ``!!python/...`` tags; on top of it this one refuses:

* a key twice in one mapping (a safe loader silently keeps the last: two ``mac:`` lines
  would configure whichever came second);
* any explicit tag outside the JSON-like core (str, int, float, bool, null, seq, map):
  ``!!binary``, ``!!set``, ``!!timestamp``, ``!!merge`` and every local or python tag;
* nesting deeper than ``MAX_DEPTH`` (the composer recurses: 100 000 ``[`` would end in a
  RecursionError), checked before it goes a level deeper;
* more than ``MAX_NODES`` nodes once aliases are expanded (a billion-laughs document is
  a few hundred bytes), and an alias to a node that contains it.

Implicit typing is YAML 1.1's without two of its traps: no sexagesimal numbers (an
unquoted MAC such as ``10:20:30:40:50:51`` would be the integer 2 316 604 251) and no
timestamps; those stay strings, as the Kubernetes API stores them.
"""

from __future__ import annotations

import re
from typing import Any, Optional

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

MAX_DEPTH = 64  # a Hardware nests 7 levels; a kubectl List 9
MAX_NODES = 200_000  # a 4 MiB document of short scalars holds fewer
_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map"))


class Refused(ValueError):
    """What the strict loader refuses; the message is one line."""


class _Resolver(BaseResolver):
    """YAML 1.1 implicit types (PyYAML's table), less sexagesimals and timestamps."""


_Resolver.add_implicit_resolver(
    _CORE + "bool",
    re.compile(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)
_Resolver.add_implicit_resolver(
    _CORE + "int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    _CORE + "float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Resolver.add_implicit_resolver(
    _CORE + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


class _Loader(Reader, Scanner, Parser, Composer, SafeConstructor, _Resolver):
    def __init__(self, stream: bytes) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0
        # Each node's size with aliases expanded, by id: an alias costs its anchor's size.
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Optional[Node], index: int) -> Optional[Node]:
        alias = self.check_event(AliasEvent)
        if self._depth >= MAX_DEPTH:
            raise Refused(f"nests deeper than {MAX_DEPTH} levels{_line(self)}")
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        if alias:
            if id(node) not in self._sizes:  # its anchor is still being composed
                raise Refused(f"an alias refers to a node that contains it{_line(self)}")
            return node
        if node.tag not in ALLOWED_TAGS:
            raise Refused(f"the tag {node.tag!r} is not allowed{_mark(node)}")
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._sizes[id(child)] for child in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if size > MAX_NODES:
            raise Refused(f"expands to more than {MAX_NODES} nodes (aliases){_mark(node)}")
        self._sizes[id(node)] = size
        return node

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # a list or mapping as a key: the constructor says so
                    break
                if duplicate:
                    raise Refused(f"the key {key!r} appears twice in one mapping{_mark(key_node)}")
                seen.add(key)
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


def load_all(body: bytes) -> list[Any]:
    """Every document in the stream, or ``Refused`` (one line) for anything else."""
    try:
        # The reader decodes the stream as it is made: bytes that are not UTF-8 (or a
        # BOM's UTF-16) fail here already.
        loader = _Loader(body)
        try:
            documents = []
            while loader.check_data():  # type: ignore[no-untyped-call]
                documents.append(loader.get_data())
            return documents
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        raise Refused(f"{exc.problem or exc.context}{where}") from None
    except yaml.reader.ReaderError as exc:
        raise Refused(f"{exc.reason} at byte {exc.position}") from None
    except yaml.YAMLError as exc:
        raise Refused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    except RecursionError:  # a backstop: the depth limit comes first
        raise Refused("nests too deeply") from None


def _mark(node: Node) -> str:
    return f" (line {node.start_mark.line + 1})" if node.start_mark else ""


def _line(loader: _Loader) -> str:
    event = loader.peek_event()  # type: ignore[no-untyped-call]
    return f" (line {event.start_mark.line + 1})" if event.start_mark else ""
