"""The layers of docs/architecture.md: each package imports only what its arrows allow."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "frontdesk"

# package → frontdesk packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "storage": {"protocol"},
    "bus": set(),
    "domain": {"protocol", "storage", "bus"},
    "delivery": {"domain", "protocol", "storage", "bus"},
    "api": {"delivery", "domain", "protocol", "storage"},
    "agents": {"delivery", "domain", "protocol", "storage", "bus"},
    "client": {"protocol"},
    # top-level modules
    "settings": {"domain", "protocol"},
    "reload": {"settings", "domain", "storage"},
    "app": {"api", "agents", "delivery", "domain", "protocol", "storage", "bus", "settings", "reload"},
    "connections": {"protocol"},
    "server": {"app", "connections"},
    "cli": {"app", "server", "settings", "domain", "reload"},
    "__main__": {"cli"},
    "__init__": set(),
}
# what the domain may take from storage and bus: their interfaces and records, never a backend
DOMAIN_STORAGE_MODULES = {"frontdesk.storage.interfaces", "frontdesk.storage.records", "frontdesk.bus.interfaces"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "frontdesk" or name.startswith("frontdesk.")}


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_module_belongs_to_a_known_layer() -> None:
    layers = {_layer(p) for p in SRC.rglob("*.py")}
    assert layers <= set(ALLOWED), f"modules outside the documented layers: {layers - set(ALLOWED)}"


def violations(layer: str, modules: set[str]) -> list[str]:
    """The imports of a module in ``layer`` that its arrows do not allow."""
    found = []
    for module in sorted(modules):
        parts = module.split(".")
        if len(parts) == 1:
            continue  # ``import frontdesk`` (the version string)
        target = parts[1]
        if target in (layer, "__init__"):
            continue
        if target not in ALLOWED[layer]:
            found.append(module)
        elif layer == "domain" and target in ("storage", "bus") and module not in DOMAIN_STORAGE_MODULES:
            found.append(f"{module} (a backend)")
    return found


def test_imports_follow_the_arrows() -> None:
    report = [f"{path.relative_to(SRC)} imports {bad}"
              for path in sorted(SRC.rglob("*.py")) for bad in violations(_layer(path), _imports(path))]
    assert not report, "\n".join(report)


def test_the_checker_reports_what_it_must() -> None:
    assert violations("domain", {"frontdesk.api.customer"}) == ["frontdesk.api.customer"]
    assert violations("domain", {"frontdesk.storage.sqlite.store"}) == ["frontdesk.storage.sqlite.store (a backend)"]
    assert violations("protocol", {"frontdesk.domain.errors"}) == ["frontdesk.domain.errors"]
    assert violations("api", {"frontdesk.domain.customers", "frontdesk.protocol.events"}) == []


def test_nothing_runs_at_import_time() -> None:
    # no module-level engines, clients or settings: top-level statements are definitions only
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not offenders, offenders
