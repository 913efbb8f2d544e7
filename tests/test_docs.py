"""The README and the manual in docs/ (issue 22): a README read in one sitting, every page
linked from it, every relative link and #anchor resolving to a file and a heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 250
_LINK = re.compile(r"\]\(([^)#\s]*)(#[^)\s]*)?\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if line.startswith("#") and not in_code:
            text = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower())
            out.add(text.replace(" ", "-"))
    return out


def links(page: Path) -> list[tuple[str, str]]:
    return [(m[1], m[2] or "") for m in _LINK.finditer(page.read_text())
            if not m[1].startswith(("http://", "https://"))]  # fmt: skip


def test_readme_is_read_in_one_sitting():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_every_page_is_linked_from_the_readme():
    linked = {(README.parent / target).resolve() for target, _ in links(README) if target}
    assert PAGES and [p for p in PAGES if p.resolve() not in linked] == []


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_links_resolve(page: Path):
    broken = []
    for target, anchor in links(page):
        path = (page.parent / target) if target else page
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor[1:] not in _anchors(path):
            broken.append(target + anchor)
    assert broken == []


def test_the_link_check_can_fail(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nsee [x](other.md) and [y](#no-such-heading) and [z](#title)\n")
    assert links(page) == [("other.md", ""), ("", "#no-such-heading"), ("", "#title")]
    assert "no-such-heading" not in _anchors(page) and "title" in _anchors(page)
