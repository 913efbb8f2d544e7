"""Tinkerbell Hardware documents as the tests handle them: the published samples
(tests/data/hardware-samples), a sample's first document to change and dump again, a
host's NICs, parsing through metadata/documents.py and reading back what it made.
test_tinkerbell.py and test_documents.py use them.
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Optional

import pytest
import yaml

from packetnetworking.errors import InvalidMetadata
from packetnetworking.metadata import Metadata, documents
from packetnetworking.nics import HostNic

SAMPLES = Path(__file__).parent / "data" / "hardware-samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def hardware(name: str = "pr395-bond.yaml") -> dict:
    """The first document of a sample, to change and dump again."""
    return copy.deepcopy(next(d for d in yaml.safe_load_all(sample(name)) if d))


def host(*macs: str) -> tuple[HostNic, ...]:
    return tuple(HostNic(name=f"enp{i + 1}s0", mac=m) for i, m in enumerate(macs))


def parse(body: bytes, *macs: str) -> Metadata:
    return documents.parse(body, lambda: host(*macs))


def dump(doc: object) -> bytes:
    return yaml.safe_dump(doc).encode()


def refused(body: bytes, *macs: str) -> InvalidMetadata:
    with pytest.raises(InvalidMetadata) as info:
        parse(body, *macs)
    return info.value


def addresses(meta: Metadata) -> list[tuple[str, Optional[str], bool, bool]]:
    return [(str(a.interface), str(a.gateway) if a.gateway else None, a.public, a.management)
            for a in meta.addresses]  # fmt: skip


def nics(meta: Metadata) -> list[tuple]:
    return [(i.name, i.mac, i.bond, i.vlan, i.os_name, i.address) for i in meta.interfaces]


def ips(*values: str) -> tuple:
    return tuple(ipaddress.ip_address(v) for v in values)


