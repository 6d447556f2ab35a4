"""The repository stands alone: nothing in it points at files outside it, and the links of docs/
lead to files that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# spelled in pieces so that this file does not name them itself
OUTSIDE = ("shared" + "/protocol", ".." + "/shared")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked_files() -> list[Path]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)  # noqa: S607
    return [ROOT / name for name in listing.stdout.decode().split("\0") if name]


def _inside_web_src(path: Path, line: str) -> bool:
    """An import line of the front end naming its sibling folder web/src/shared stays inside."""
    return path.is_relative_to(ROOT / "web" / "src") and line.lstrip().startswith(("import ", "} from ")) \
        and '"' + OUTSIDE[1] + "/" in line


def test_no_tracked_file_refers_outside_the_repository() -> None:
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{number}: {word}" for word in OUTSIDE
                      if word in line and not _inside_web_src(path, line)]
    assert not found, "\n".join(found)


def test_links_in_the_docs_lead_to_files_of_the_repository() -> None:
    broken = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.name}: {target}")
    assert not broken, broken
