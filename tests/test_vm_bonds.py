"""Bonded mode proven at boot (issue 16): the files the tool writes bring up the bonds in
a QEMU VM running Debian's kernel, negotiated with a partner VM.

Each cell boots a server VM from a guest root carrying the tool's files and a switch VM
(support/vm_cells.py), then checks what the server's kernel showed (support/vm_checks.py):
bond mode and options, exactly the plan's ports, all up, one aggregator with the
partner's MAC (802.3ad), the bond's MAC, addresses, alias and routes, and pings to the
gateways. The cells join the image matrix with check "boot". The cells are defined in
vm_cases.py; the checks are proven able to fail, offline, in test_vm_checks.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import vm, vm_checks, vm_prefetch
from support.vm_cells import VmCell
from vm_cases import BONDED, CELLS, MODE_OF, NEGATIVE_WAIT

# What `make test` boots; `make vm` (PN_VM_ALL=1) boots every cell. Left to `make vm`
# for the time budget (docs/testing.md): mlag_ha (the tool writes the very same files as
# for bonded, and the guest is the same), the variant without the member-delay quirk
# (a measurement of what the quirk does, not a guard), hardware-bonded (the VLAN cell
# boots a Hardware's bond too), netplan-dhcp (debian12-dhcp guards DHCP),
# the two NetworkManager cells in individual mode, rhel9-ifcfg-individual and
# nm-keyfile-individual (the NIC each hands back is read by the daemon in test_nm_ifcfg.py
# and test_nm_keyfile.py), debian11-bonded (Debian 11 is past its LTS; its own ifupdown
# reads its files in the image matrix, and Debian 12's and 13's boot here) and
# debian12-mode5 (the legacy mode-5 plan: the same ifupdown as debian12-bonded; its file
# is read by ifupdown itself in test_debian.py, bond-mode 5 and no LACP option).
DEFAULT_CELLS = frozenset(
    {
        "debian12-bonded", "debian13-bonded", "networkd-arch", "netplan-ubuntu",
        "nm-keyfile", "debian12-two-bonds", "hardware-vlan-bond", "alpine-bonded",
        "debian12-dhcp", "rhel9-ifcfg",
    }
)  # fmt: skip


def _in_this_run(cell: VmCell) -> bool:
    return cell.name in DEFAULT_CELLS or os.environ.get("PN_VM_ALL") == "1"


def _params() -> list[object]:
    return [
        pytest.param(
            cell,
            id=cell.name,
            marks=[
                pytest.mark.matrix(
                    image=cell.guest, os=cell.os, mode=MODE_OF.get(cell.name, "bonded"),
                    check="boot",
                ),
                *([pytest.mark.boots(cell)] if _in_this_run(cell) else []),
            ],
        )  # fmt: skip
        for cell in CELLS
    ]


@pytest.fixture(scope="module")
def vm_tools() -> None:
    """QEMU and the image tools, or the test is skipped (failed under CI=true). What the
    boots need is built by the background boots (support/vm_prefetch.py), or by a boot
    that was not prefetched itself."""
    vm.require_vm_tools()


# Not "cell": test_image_matrix's workspace collects every item's "cell" parameter.
@pytest.mark.parametrize("vm_cell", _params())
def test_bond_at_boot(
    vm_cell: VmCell, vm_tools: None, pyz: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cell = vm_cell
    if not _in_this_run(cell):
        pytest.skip("left out of make test for time (DEFAULT_CELLS); `make vm` boots it")
    outcome = vm_prefetch.outcome(cell, pyz, tmp_path)
    # The ports' timeline goes with every cell: the cells with the member-delay quirk (the
    # default) are read against the variant without it (docs/testing.md).
    detail = vm_checks.check_cell(outcome, cell)
    if cell.bonded:  # a bond's ports
        detail += f"; {vm_checks.port_timeline(outcome)}"
    # A benchmark, not an assertion (issue 23): how long the network took to be there.
    reach = vm_checks.reachability(outcome)
    request.node.user_properties.append(("matrix_fields", reach.fields()))
    timing = f"prepare {outcome.prepare_seconds} s, boot+report {outcome.boot_seconds} s"
    request.node.user_properties.append(
        ("matrix_detail", f"{detail}; {reach.summary()}; {timing}")
    )


# ---------------------------------------------------------------------------- checks can fail


PARTNER_ACTIVE_BACKUP = VmCell(
    "partner-active-backup", "vm-bookworm-ifupdown", "debian 12", BONDED,
    switch_mode="active-backup", settle_wait=NEGATIVE_WAIT,
)  # fmt: skip


# Booted by `make vm` only, for the time budget (docs/testing.md): each takes 70-100 s, and
# the same complaints are proven offline on mutations of a real report ("no LACP partner",
# "mode 'load balancing"), so `make test` loses only the proof that a real switch and a
# real file edit give such a report.
def _make_vm_only(cell: VmCell) -> pytest.MarkDecorator:
    if os.environ.get("PN_VM_ALL") == "1":
        return pytest.mark.boots(cell)
    return pytest.mark.skip(reason="left out of make test for time; `make vm` boots it")


@_make_vm_only(PARTNER_ACTIVE_BACKUP)
def test_an_active_backup_partner_fails(vm_tools: None, pyz: Path, tmp_path: Path) -> None:
    cell = PARTNER_ACTIVE_BACKUP
    outcome = vm_prefetch.outcome(cell, pyz, tmp_path)
    with pytest.raises(AssertionError, match="aggregator|LACP partner"):
        vm_checks.check_cell(outcome, cell)


def _balance_rr(root: Path) -> None:
    eni = root / "etc" / "network" / "interfaces"
    eni.write_text(eni.read_text().replace("bond-mode 4\n", "bond-mode 0\n"))


MODE_MUTATED = VmCell(
    "mode-mutated", "vm-bookworm-ifupdown", "debian 12", BONDED, edit=_balance_rr,
    settle_wait=NEGATIVE_WAIT,
)  # fmt: skip


@_make_vm_only(MODE_MUTATED)
def test_a_mutated_mode_fails(vm_tools: None, pyz: Path, tmp_path: Path) -> None:
    cell = MODE_MUTATED
    outcome = vm_prefetch.outcome(cell, pyz, tmp_path)
    with pytest.raises(AssertionError, match="mode 'load balancing \\(round-robin\\)'"):
        vm_checks.check_cell(outcome, cell)
