"""The docs describe the tree as it is: the architecture map names every module, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "aiotulip"


def _mapped() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```", 2)[1]
    found: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match or match.group(2) == "src/aiotulip/":
            continue
        indent, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([*(part for _, part in stack), name.rstrip("/")])
        if name.endswith("/"):
            stack.append((indent, name.rstrip("/")))
            found.add(path + "/__init__.py")
        else:
            found.add(path)
    return found


def test_the_map_names_every_module_and_no_other() -> None:
    tree = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    mapped = _mapped()
    assert sorted(tree - mapped) == [], "modules the map leaves out"
    assert sorted(mapped - tree) == [], "names in the map that the tree does not have"


def test_the_readme_stays_short_and_points_to_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 16 * 1024
    for page in ("spin", "serve", "proxy", "fetch", "performance", "guarantees", "architecture"):
        assert f"docs/{page}.md" in readme
