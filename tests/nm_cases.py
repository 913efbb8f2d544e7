"""The metadata cases NetworkManager reads back (test_nm_ifcfg, test_nm_keyfile, test_nm_apply).

factories.CASES (the shapes every distro's golden files cover), the other spellings of
bonded aggregation, the legacy plans whose quirk keeps one NIC, and the published
metadata documents, each on a host whose NICs carry the document's MACs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import factories as f

from packetnetworking import selection
from packetnetworking.nics import HostNic
from packetnetworking.plan import Plan
from packetnetworking.target import from_option


def _sample(name: str) -> dict:
    return json.loads((f.SAMPLES / name).read_text())


CASES = {
    **f.CASES,  # bonded is mlag_ha; no-ipv6 is "bonded" with mode 5
    "aggregation-bonded": f.metadata(aggregation="bonded"),
    "aggregation-null": f.metadata(aggregation=None),
    # Legacy plans whose quirk keeps one NIC (hooks/plan_quirks.py).
    "x1.small.x86": f.metadata(plan="x1.small.x86", aggregation="bonded", mode=5),
    "baremetal_1e": f.metadata(plan="baremetal_1e", aggregation="bonded", mode=5),
    **{p.stem[:2] + "-sample": _sample(p.name) for p in sorted(f.SAMPLES.glob("*.json"))},
}


def host_nics(doc: dict) -> tuple[HostNic, ...]:
    """The host's NICs: predictable names carrying the metadata's MACs."""
    macs = [i["mac"] for i in doc["network"]["interfaces"]]
    return tuple(HostNic(name=f"enp1s0f{i}", mac=m, driver="ice") for i, m in enumerate(macs))


def plan_of(case: str) -> Plan:
    doc = CASES[case]
    return f.build_plan(doc, host_nics(doc))


def files(os_name: str, case: str, directory: str, backend: Optional[str] = None) -> dict[str, str]:
    """What the builder for this OS writes for this case under `directory`, by path below
    it (pure: nothing is written; `backend` as --backend, else the distro's default)."""
    plan, target = plan_of(case), from_option(os_name)
    chosen = selection.select(target, plan.mode, Path("/nonexistent"), backend)
    tasks = chosen.builder.func(chosen.context(plan))
    prefix = directory.rstrip("/") + "/"
    return {
        t.path[len(prefix) :]: t.content
        for t in tasks
        if hasattr(t, "content") and t.path.startswith(prefix)
    }
