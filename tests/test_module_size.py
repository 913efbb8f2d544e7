"""Every module is read in one sitting (issue 22): none of the package's, the distros', the
hooks', the packaging's or the tests' modules (their support and cases included) is over
350 lines. A module that
grows past it holds a second concept; split it where that concept starts."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREES = ("packetnetworking", "distros", "hooks", "packaging", "tests")
MAX_LINES = 350


def test_no_module_over_350_lines():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for tree in TREES
        for path in (ROOT / tree).rglob("*.py")
    }
    assert len(sizes) > 40  # the trees are where this test thinks they are
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
