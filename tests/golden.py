"""Golden files: the exact expected output, written by hand and reviewed line by line.

There is deliberately no switch that overwrites goldens. On a mismatch the actual
output is saved beside the golden as ``*.actual`` for a human to diff and review.
"""

from __future__ import annotations

from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def check(relpath: str, actual: str) -> None:
    golden = GOLDEN / relpath
    actual_path = golden.with_name(golden.name + ".actual")
    if not golden.exists():
        actual_path.parent.mkdir(parents=True, exist_ok=True)
        actual_path.write_text(actual)
        raise AssertionError(f"no golden file {golden}; review {actual_path} line by line")
    expected = golden.read_text()
    if actual != expected:
        actual_path.write_text(actual)
        raise AssertionError(f"{golden} differs; see {actual_path}")
    actual_path.unlink(missing_ok=True)


def check_all(reldir: str, files: dict[str, str]) -> None:
    """Check every file of one case, reporting all mismatches at once."""
    problems = []
    for path in sorted(files):
        try:
            check(f"{reldir}/{path}", files[path])
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)
