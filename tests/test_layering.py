"""The layers of docs/architecture.md are enforced by import-linter (``lint-imports``, run by
scripts/test) with the contracts in pyproject.toml, and by ruff's banned-API rule (no dynamic
imports). These tests keep the contracts equal to the documented table, prove that the checker
catches what it must (relative imports, imports through the package root, a web framework in the
domain, even indirectly), and check what import-linter cannot express: nothing runs at import time.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "frontdesk"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _layer(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def documented_layers() -> dict[str, set[str]]:
    """docs/architecture.md's table: package → what it may import (``storage.interfaces`` …)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("| package | may import |", 1)[1].split("\n\n", 1)[0]
    layers: dict[str, set[str]] = {}
    for row in table.strip().splitlines()[1:]:
        package, cell = (text.strip() for text in row.strip("|").split("|"))
        layers[package.strip("`")] = set() if cell.startswith("nothing") else {
            item.strip().strip("`") for item in cell.split(",")}
    everything = {p for p in layers if p not in ("app", "server", "cli", "__main__")}
    for package, allowed in layers.items():
        if allowed == {"everything above"}:
            layers[package] = everything
    return layers


def _modules(package: str) -> set[str]:
    """The modules and subpackages directly in a package of src/frontdesk."""
    return {p.stem for p in (SRC / package).iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()} - {
        "__init__"}


def expected_forbidden(layer: str, layers: dict[str, set[str]]) -> set[str]:
    forbidden = set()
    for other in set(layers) - {layer, "__main__"}:
        named = {a for a in layers[layer] if a.split(".")[0] == other}
        if not named:
            forbidden.add(f"frontdesk.{other}")
        elif other not in named:  # only some modules of it: its other modules are forbidden
            allowed = {a.split(".", 1)[1] for a in named}
            forbidden |= {f"frontdesk.{other}.{m}" for m in _modules(other) - allowed}
    return forbidden


def test_every_module_belongs_to_a_documented_layer() -> None:
    layers = {_layer(p) for p in SRC.rglob("*.py")} - {"__init__"}
    assert layers <= set(documented_layers()), f"modules outside the layers: {layers - set(documented_layers())}"


def test_the_contracts_are_the_documented_table() -> None:
    layers = documented_layers()
    by_source = {c["source_modules"][0]: c for c in CONTRACTS if c.get("allow_indirect_imports")}
    assert set(by_source) == {f"frontdesk.{layer}" for layer in layers}
    for layer in layers:
        contract = by_source[f"frontdesk.{layer}"]
        assert set(contract["forbidden_modules"]) == expected_forbidden(layer, layers), layer


def test_the_domain_may_not_import_a_web_framework_even_indirectly() -> None:
    (contract,) = [c for c in CONTRACTS if not c.get("allow_indirect_imports")]
    assert {"frontdesk.domain", "frontdesk.protocol"} <= set(contract["source_modules"])
    assert {"starlette", "fastapi", "uvicorn", "httpx"} <= set(contract["forbidden_modules"])


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],  # noqa: S603
                          cwd=root, env={"PYTHONPATH": str(root / "src")}, capture_output=True, text=True,
                          timeout=120, check=False)


def test_lint_imports_catches_every_kind_of_import(tmp_path: Path) -> None:
    shutil.copytree(SRC, tmp_path / "src" / "frontdesk")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "src" / "frontdesk" / "domain" / "hours.py").open("a") as hours:
        hours.write("from ..api import customer as _relative\n"  # a relative import
                    "from frontdesk import delivery as _root\n"  # through the package root
                    "import frontdesk.storage.sqlite.store as _backend\n"  # a backend, not an interface
                    "from frontdesk.client import _http as _indirect\n")  # reaches httpx indirectly
    with (tmp_path / "src" / "frontdesk" / "protocol" / "events.py").open("a") as events:
        events.write("from .. import settings as _up\n")
    run = _lint_imports(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    for line in ("frontdesk.domain.hours -> frontdesk.api.customer", "frontdesk.domain.hours -> frontdesk.delivery",
                 "frontdesk.domain.hours -> frontdesk.storage.sqlite.store",
                 "frontdesk.domain.hours -> frontdesk.client._http", "frontdesk.client._http -> httpx",
                 "frontdesk.protocol.events -> frontdesk.settings"):
        assert line in run.stdout, line
    assert re.search(r"Contracts: \d+ kept, 3 broken", run.stdout), run.stdout


def test_the_source_keeps_every_contract() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr


# calls that build something with a life of its own: never at import time
ENGINES = re.compile(r"(^|\.)(build_app|make_server|load_settings|Settings|FastAPI|Starlette|APIRouter|connect|"
                     r"Server|Client|AsyncClient|[A-Za-z]*(Service|Store|Bus|Journal|Engine|Clock)|"
                     r"get_event_loop|new_event_loop|Thread|open)$")
DYNAMIC_IMPORTS = {"__import__", "import_module", "importlib.import_module"}


def _top_level_problems(path: Path) -> list[str]:
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
            found.append(f"{node.lineno}: a statement")
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for call in (n for n in ast.walk(node.value) if isinstance(n, ast.Call)):
                if ENGINES.search(ast.unparse(call.func)):
                    found.append(f"{node.lineno}: {ast.unparse(call.func)}()")
    for call in (n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Call)):
        if ast.unparse(call.func) in DYNAMIC_IMPORTS:
            found.append(f"{call.lineno}: a dynamic import")
    return found


def test_nothing_runs_at_import_time() -> None:
    # no module-level engines, clients, connections or settings: top-level statements are definitions
    offenders = [f"{path.relative_to(SRC)}:{problem}" for path in sorted(SRC.rglob("*.py"))
                 if path.name != "__main__.py" for problem in _top_level_problems(path)]
    assert not offenders, offenders


def test_the_import_time_check_reports_what_it_must(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import logging\nlog = logging.getLogger(__name__)\nPATTERN = frozenset({1})\n"
                      "app = build_app(Settings())\nstore = SqliteStore.open('x')\nprint('hi')\n"
                      "def f() -> None:\n    __import__('os')\n")
    assert _top_level_problems(module) == ["4: build_app()", "4: Settings()", "5: SqliteStore.open()",
                                           "6: a statement", "8: a dynamic import"]
