"""The layout's promises, read from the import statements (no module is executed):

- vigil/core/ is the shared library: it imports nothing from an application package, so any
  application can use it without pulling in another;
- the product (vigil/, exporter/, router/) never imports test support (tests/, support.*,
  faults.*, pytest).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("vigil", "exporter", "router")
TEST_SUPPORT = ("tests", "support", "faults", "pytest", "pghelpers", "router_helpers")


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_shared_library_imports_no_application() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("vigil/core")
        for name in _imports(path)
        if name.split(".")[0] in PRODUCT and not name.startswith("vigil.core")
        and name != "vigil"  # `from vigil import core` style is still the library
    ]
    assert not offenders, offenders


def test_the_product_never_imports_test_support() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in PRODUCT
        for path in _modules(folder)
        for name in _imports(path)
        if name.split(".")[0] in TEST_SUPPORT
    ]
    assert not offenders, offenders


def test_the_layering_check_sees_a_violation(tmp_path: Path) -> None:
    # The checks above are only as good as the parser: prove it finds both kinds of import.
    probe = tmp_path / "probe.py"
    probe.write_text("import faults.proxy\nfrom router.engine import Engine\n")
    assert {"faults.proxy", "router.engine", "router.engine.Engine"} <= set(_imports(probe))
