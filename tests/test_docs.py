"""The guide and its pages: every relative link and #anchor in README.md and docs/ resolves, the
guide stays a guide (at most 220 lines), and no page names a path outside the repository."""

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_README_LINES = 220

# [text](target) and ![alt](target), the target up to the first space (a title may follow).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# Paths that exist only on the machine the project was written on, or beside the clone.
OUTSIDE = re.compile(r"\.\./shared|PAPER\.md|RELATED\.md|(?<![\w.])/work/")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `#` comment in a shell block is no heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        lines.append("" if fenced else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: inline markup dropped, lower case, punctuation but `-` and
    `_` removed, each space a hyphen."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(prose(path.read_text()), 1):
        # Inline code is not a link: `x[0](y)` in a code span must not count.
        line = re.sub(r"`[^`]*`", "", line)
        found += [(number, target) for target in LINK.findall(line)]
    return found


def broken(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not dest.is_relative_to(ROOT):
            problems.append(f"{where} leaves the repository")
        elif not dest.exists():
            problems.append(f"{where} names no file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where} names no heading of {dest.relative_to(ROOT)}")
    return problems


def test_slugs_follow_github() -> None:
    assert slug("The GPU check (`make gpu-check`)") == "the-gpu-check-make-gpu-check"
    assert slug("Reading the report: intervals and verdicts") == (
        "reading-the-report-intervals-and-verdicts"
    )
    assert slug("A label-free objective, and state across steps") == (
        "a-label-free-objective-and-state-across-steps"
    )
    assert slug("Do the verdicts survive a change of seeds? (`python -m clar.report.aa`)") == (
        "do-the-verdicts-survive-a-change-of-seeds-python--m-clarreportaa"
    )


def test_the_checker_finds_a_broken_link(tmp_path: Path) -> None:
    page = ROOT / "docs" / "index.md"
    names = {target for _, target in links(page)}
    assert "method.md" in names
    assert not broken(page)
    # The same check on a page that names a missing heading and a missing file.
    bad = ROOT / "docs" / "_broken_for_test.md"
    try:
        bad.write_text("# Here\n\n[a](method.md#no-such-heading) [b](nowhere.md) [c](#here)\n")
        problems = broken(bad)
    finally:
        bad.unlink()
    assert len(problems) == 2
    assert "no-such-heading" in problems[0] and "nowhere.md" in problems[1]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(page: Path) -> None:
    assert not broken(page), "\n".join(broken(page))


def test_readme_is_a_guide() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail to docs/"
    # Every page of docs/ is reachable from the table of contents.
    index = {target.partition("#")[0] for _, target in links(ROOT / "docs" / "index.md")}
    for page in (ROOT / "docs").glob("*.md"):
        assert page.name == "index.md" or page.name in index, f"docs/index.md omits {page.name}"


def test_nothing_names_a_path_outside_the_repository() -> None:
    files = [*pages(), *(ROOT / "conf").rglob("*.yaml"), ROOT / "params.yaml"]
    files += [*(ROOT / "clar").rglob("*.py"), *(ROOT / "stages").rglob("*.py")]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)
