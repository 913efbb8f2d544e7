"""The server's description: which format it is, JSON or YAML, and which of several.

Two formats reach the tool (DESIGN.md): the Equinix Metal instance metadata and
Tinkerbell's Hardware. They are told apart by content, never by file name:

* JSON when the first byte that is not whitespace is ``{`` or ``[`` (every JSON document
  this tool takes is an object); anything else is YAML, read by ``yamlsafe`` (imported
  only then: an Equinix run never loads PyYAML).
* A Hardware is a document with ``apiVersion: tinkerbell.org/...`` and ``kind: Hardware``;
  a ``kind: List`` or ``HardwareList`` (``kubectl get hardware -o yaml``) holds several
  in ``items``; a YAML stream may hold several documents, and other kinds among them
  (EKS Anywhere writes each Hardware with its BMC and Secret) are passed over.
* Two shapes come out of a workflow Template with no ``apiVersion``:
  ``{{ toJson .hardware }}`` (the object as JSON tags spell it, ``spec`` and ``metadata``,
  TypeMeta often empty) is taken for a Hardware when it has a ``spec`` mapping and no
  ``network``; ``{{ toJson .Hardware }}`` (the legacy template data, Go field names at the
  top: ``Interfaces``, ``Metadata``, ``Disks``, ``UserData``, ``VendorData``) when it has
  ``Interfaces`` and no key outside those five.
* Anything else is the Equinix document, exactly as before.

With several Hardware, the one whose ``spec.interfaces[].dhcp.mac`` include a host NIC's
MAC is used: none is exit 60, two or more exit 50 naming them. The host's NICs are only
looked at then, so a run with one document keeps its order of checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Callable

from ..errors import InvalidMetadata, NoMatchingNic
from ..nics import HostNic
from . import Metadata, equinix

HardwareNics = Callable[[], "tuple[HostNic, ...]"]
LIST_KINDS = ("List", "HardwareList")
# The keys of tinkerbell's templateHardwareData (tink/internal/render/hardware.go), what
# sprig's toJson makes of .Hardware: a struct without json tags.
LEGACY_KEYS = frozenset(("Disks", "Interfaces", "UserData", "Metadata", "VendorData"))
# A fetched answer that is not JSON is only taken for YAML if it looks like a resource.
_YAML_ANSWER = re.compile(rb"^(?:---|apiVersion:|kind:)", re.M)


def parse(body: bytes, host_nics: HardwareNics) -> Metadata:
    """The Metadata of the one description in ``body`` (see the module doc)."""
    if _starts_like_json(body):
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError):
            return equinix.parse(body)  # raises, with the message it always gave
        documents = [raw]
    else:
        documents = _yaml(body)
    return _choose(documents, host_nics)


def is_yaml_answer(body: bytes) -> bool:
    """Whether a fetched answer is a YAML resource (else it must be a JSON object)."""
    if _starts_like_json(body) or not _YAML_ANSWER.search(body):
        return False
    try:
        documents = _yaml(body)
    except InvalidMetadata:
        return False
    return bool(documents) and all(isinstance(d, Mapping) for d in documents)


def _starts_like_json(body: bytes) -> bool:
    stripped = body.lstrip(b" \t\r\n")
    return stripped[:1] in (b"{", b"[")


def _yaml(body: bytes) -> list[Any]:
    from . import yamlsafe  # only a YAML document pays for PyYAML

    try:
        found = yamlsafe.load_all(body)
    except yamlsafe.Refused as exc:
        raise InvalidMetadata("metadata", "YAML", f"is refused: {exc}") from None
    return [d for d in found if d is not None]  # "---" with nothing after it


def kind(doc: object) -> str:
    """``hardware``, ``hardware-v1alpha2``, ``template-data``, ``list``, ``other`` (a
    resource of another kind) or ``equinix``."""
    if not isinstance(doc, Mapping):
        return "equinix"  # refused there, with the message it always had
    api, what = doc.get("apiVersion"), doc.get("kind")
    if api is not None or what is not None:
        if what in LIST_KINDS and isinstance(doc.get("items"), list):
            return "list"
        if what != "Hardware" or not isinstance(api, str) or not api.startswith("tinkerbell.org/"):
            return "other"
        return "hardware-v1alpha2" if api == "tinkerbell.org/v1alpha2" else "hardware"
    if "Interfaces" in doc and set(doc) <= LEGACY_KEYS:
        return "template-data"
    if isinstance(doc.get("spec"), Mapping) and "network" not in doc:
        return "hardware"
    return "equinix"


def _choose(documents: list[Any], host_nics: HardwareNics) -> Metadata:
    if len(documents) == 1 and kind(documents[0]) == "equinix":
        return equinix.from_dict(documents[0])
    found = _hardware(documents)
    if not found:
        kinds = ", ".join(sorted({str(_kind_name(d)) for d in documents})) or "none"
        raise InvalidMetadata("metadata", f"{len(documents)} documents", f"holds no Hardware "
                              f"(kinds: {kinds})")  # fmt: skip
    doc = found[0][1] if len(found) == 1 else _select(found, host_nics())[1]
    return _hardware_model(doc, kind(doc))


def _hardware_model(doc: Mapping[str, Any], shape: str) -> Metadata:
    """A Hardware through its version's module (imported only then: an Equinix run needs
    neither)."""
    if shape == "hardware-v1alpha2":
        from . import tinkerbell_v1alpha2

        return tinkerbell_v1alpha2.parse(doc)
    from . import tinkerbell

    return tinkerbell.parse(doc, shape)


def _hardware(documents: list[Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Every Hardware with where it is (``items[2]``, ``document 3``): lists opened up,
    other kinds passed over."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for i, doc in enumerate(documents):
        label = f"document {i + 1}" if len(documents) > 1 else "metadata"
        what = kind(doc)
        if what == "list":
            for j, item in enumerate(doc["items"]):
                if kind(item) not in ("list", "other", "equinix"):
                    found.append((f"{label}.items[{j}]", item))
        elif what not in ("other", "equinix"):
            found.append((label, doc))
    return found


def _select(
    found: list[tuple[str, Mapping[str, Any]]], host: tuple[HostNic, ...]
) -> tuple[str, Mapping[str, Any]]:
    host_macs = {nic.mac.lower() for nic in host}
    matching = [(where, doc) for where, doc in found if _macs(doc) & host_macs]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        wanted = ", ".join(sorted(set().union(*(_macs(doc) for _, doc in found)))) or "none"
        have = ", ".join(sorted(host_macs)) or "none"
        raise NoMatchingNic(
            f"no Hardware matches a host NIC ({len(found)} given): Hardware MACs {wanted}; "
            f"host MACs {have}"
        )
    names = [f"{_name(doc)} ({where})" for where, doc in matching]
    raise InvalidMetadata("metadata", names, "more than one Hardware matches this host's NICs")


def _macs(doc: Mapping[str, Any]) -> set[str]:
    """The MACs a Hardware names, as far as they are strings: only to choose among
    several (the chosen one's are checked in full)."""
    if kind(doc) == "hardware-v1alpha2":
        spec = doc.get("spec")
        nics = spec.get("networkInterfaces") if isinstance(spec, Mapping) else None
        if not isinstance(nics, Mapping):
            return set()
        return {m.lower() for m in nics if isinstance(m, str)}
    interfaces = doc.get("Interfaces")
    if interfaces is None:
        spec = doc.get("spec")
        interfaces = spec.get("interfaces") if isinstance(spec, Mapping) else None
    macs = set()
    for item in interfaces if isinstance(interfaces, list) else ():
        dhcp = item.get("dhcp") if isinstance(item, Mapping) else None
        mac = dhcp.get("mac") if isinstance(dhcp, Mapping) else None
        if isinstance(mac, str):
            macs.add(mac.lower())
    return macs


def _name(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) else "(no metadata.name)"


def _kind_name(doc: object) -> object:
    return doc.get("kind", "no kind") if isinstance(doc, Mapping) else type(doc).__name__
