"""The VM cells booted in the background, from the session's start, while the rest runs.

A cell's boot is mostly one TCG guest's emulated CPU (about 1.2 of this machine's 2
cores for its 30-50 s); the rest of the suite mostly uses one core. Booted when their
tests come, the cells add their ~10 minutes to the suite's ~6; booted one after another
in a thread from the first test on, they overlap them. Each VM test then takes its
cell's outcome (waiting for it if need be) and judges it as before: only when the boot
happens changes, and nothing is booted that the session did not select.

Tests that boot a cell carry ``@pytest.mark.boots(cell)`` (only where this run boots
it: test_vm_bonds leaves out of ``make test`` what only ``make vm`` boots);
``outcome()`` boots a cell that was not prefetched (a run of one test, or the VM tools
missing at the start, which the test then reports itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from . import vm, vm_cells
from .vm_cells import Outcome, VmCell

_futures: dict[str, Future[Outcome]] = {}


def selected(session: pytest.Session) -> list[VmCell]:
    """The cells the session's chosen tests boot, in their order, each once."""
    cells: dict[str, VmCell] = {}
    for item in session.items:
        marker = item.get_closest_marker("boots")
        if marker is not None:
            cells.setdefault(marker.args[0].name, marker.args[0])
    return list(cells.values())


def session(request: pytest.FixtureRequest) -> Iterator[None]:
    """For conftest's session fixture: start the boots, and at the end wait for the one
    under way (a QEMU left running would outlive the suite) and drop the rest."""
    cells = selected(request.session)
    if not cells or vm.have_vm_tools() is not None:  # the tests say why
        yield
        return
    pyz: Path = request.getfixturevalue("pyz")
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    pool = ThreadPoolExecutor(1, thread_name_prefix="vm-boot")
    build = pool.submit(vm.build_for, [cell.guest for cell in cells])
    for cell in cells:
        workdir = factory.mktemp(f"vm-{cell.name}")
        _futures[cell.name] = pool.submit(_boot, build, cell, pyz, workdir)
    try:
        yield
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _futures.clear()


def outcome(cell: VmCell, pyz: Path, workdir: Path) -> Outcome:
    """The cell's boot: the prefetched one, or one now."""
    future = _futures.get(cell.name)
    if future is None or future.cancelled():
        return vm_cells.run(cell, pyz, workdir)
    return future.result()


def _boot(build: Future[None], cell: VmCell, pyz: Path, workdir: Path) -> Outcome:
    build.result()  # a failed build fails each cell's test with its error
    return vm_cells.run(cell, pyz, workdir)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "boots(cell): the test boots this VmCell")


@pytest.fixture(scope="session", autouse=True)
def _vm_boots_in_background(request: pytest.FixtureRequest) -> Iterator[None]:
    yield from session(request)
