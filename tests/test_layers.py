"""The architecture, checked: no import circle between modules, and each layer imports only what it
may. Every import counts — at the top, inside a function (lazy) or under TYPE_CHECKING — because a
circle hidden in a function is still two modules that cannot be understood apart."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "src" / "aiotulip"


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every aiotulip module *name* imports (a name imported from a package that is a module counts
    as that module; one that is not, as the package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("aiotulip"):
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if not base.startswith("aiotulip"):
                continue
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def graph() -> dict[str, set[str]]:
    return {
        name: {target for target in _imports(name, path) if target in MODULES and target != name}
        for name, path in MODULES.items()
    }


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _is_package_init_edge(source: str, target: str) -> bool:
    """A package's __init__ re-exporting its own submodules (and they naming the package's other
    submodules) is how a package is made, not a circle between concepts."""
    return target.startswith(source + ".")


def test_no_import_circle() -> None:
    edges = {
        source: {t for t in targets if not _is_package_init_edge(source, t)}
        for source, targets in graph().items()
    }
    assert _cycles(edges) == []


PURE = [
    "aiotulip.download.item",
    "aiotulip.download.plan",
    "aiotulip.download.retry",
    "aiotulip.download.segments",
    "aiotulip.download.http",
    "aiotulip.download.names",
    "aiotulip.download.rate",
]
IO = ["aiotulip.download.engines", "aiotulip.download.transports", "aiotulip.download.store"]


def _under(module: str, prefixes: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("layer", PURE)
def test_the_pure_layer_imports_no_io(layer: str) -> None:
    edges = graph()
    wrong = {
        (source, target)
        for source, targets in edges.items()
        if _under(source, [layer])
        for target in targets
        if _under(target, IO) or _under(target, ["aiotulip.download.options", "aiotulip.download.api"])
    }
    assert not wrong


PROXY_PURE = ["aiotulip.proxy.model", "aiotulip.proxy.draws", "aiotulip.proxy.toxics", "aiotulip.proxy.http",
              "aiotulip.proxy.exchange"]  # fmt: skip
PROXY_IO = ["aiotulip.proxy.relay", "aiotulip.proxy.listener", "aiotulip.proxy.server", "aiotulip.proxy.api",
            "aiotulip.proxy.runner", "aiotulip.proxy.cli"]  # fmt: skip


def test_the_proxy_decisions_import_no_io() -> None:
    """What a toxic does is decided without a socket: the relay carries the decisions out."""
    edges = graph()
    wrong = {(s, t) for s, ts in edges.items() if _under(s, PROXY_PURE) for t in ts if _under(t, PROXY_IO)}
    assert not wrong


def test_transports_know_nothing_of_the_run() -> None:
    """Transports take TransportOptions: not the run's FetchOptions, the Item, the engines or the store."""
    edges = graph()
    wrong = {
        (source, target)
        for source, targets in edges.items()
        if _under(source, ["aiotulip.download.transports"])
        for target in targets
        if _under(target, ["aiotulip.download.options", "aiotulip.download.item", "aiotulip.download.engines",
                           "aiotulip.download.store", "aiotulip.download.api"])
    }  # fmt: skip
    assert not wrong


def test_the_store_never_imports_the_item() -> None:
    edges = graph()
    wrong = {
        (s, t) for s, ts in edges.items() if _under(s, ["aiotulip.download.store"]) for t in ts
        if _under(t, ["aiotulip.download.item", "aiotulip.download.engines"])
    }  # fmt: skip
    assert not wrong


def test_parts_stand_apart() -> None:
    """spin, serve, proxy and bench never reach into download's insides, nor download into theirs; what
    two parts share lives in aiotulip.shared (the demo, the CLI and the pytest plugin join the parts)."""
    edges = graph()
    parts = ["aiotulip.spin", "aiotulip.serve", "aiotulip.download", "aiotulip.bench", "aiotulip.proxy"]
    allowed = {
        ("aiotulip.download", "aiotulip.spin"),  # the progress display uses the Spinner
        ("aiotulip.bench", "aiotulip.serve"),  # the bench starts tulip serve for its workloads
        ("aiotulip.bench", "aiotulip.download"),  # ... and runs tulip's engines
    }
    wrong = set()
    for source, targets in edges.items():
        for target in targets:
            a = next((p for p in parts if _under(source, [p])), None)
            b = next((p for p in parts if _under(target, [p])), None)
            if a and b and a != b and (a, b) not in allowed:
                wrong.add((source, target))
    assert not wrong


def test_few_type_ignores_and_each_says_why() -> None:
    """mypy's word is overruled in at most 15 places, each with its reason after it on the line."""
    import re

    found = [
        (path.relative_to(ROOT), number, line)
        for path in ROOT.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    assert len(found) <= 15, [f"{path}:{number}" for path, number, _line in found]
    unexplained = [
        f"{path}:{number}"
        for path, number, line in found
        if not re.search(r"# type: ignore\[[\w-]+(, [\w-]+)*\]  # \S", line)
    ]
    assert not unexplained
