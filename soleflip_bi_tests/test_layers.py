"""Layers only look down: every import of the project, function-local ones included,
goes to the importer's own package or to a layer below it (``shared/layers.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import soleflip_bi
from soleflip_bi.shared.layers import LAYERS, layer_of

PACKAGE_DIR = Path(soleflip_bi.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(module: str, source: str, is_package: bool) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import statement of the source."""
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under `if TYPE_CHECKING:` count as module level
        if isinstance(node, ast.If):
            top_level.update(id(child) for child in node.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
            # `from package import module` imports the module; otherwise the package itself
            found += [
                (name if layer_of(name) and _is_module(name) else base, id(node) in top_level)
                for name in names
            ]
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE_DIR.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or path.is_dir()


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Why each import of ``module`` breaks the layering (empty when none does)."""
    own = layer_of(module)
    problems = []
    for imported, at_module_level in _imports(module, source, is_package):
        target = layer_of(imported)
        if target is None:
            if imported == "soleflip_bi" or imported.startswith("soleflip_bi."):
                problems.append(f"{module} imports {imported}, which belongs to no layer")
            continue
        if own is None:
            problems.append(f"{module} belongs to no layer")
            continue
        if not at_module_level:
            problems.append(f"{module} imports {imported} inside a function")
        if target[0] > own[0]:
            problems.append(f"{module} imports {imported} from a higher layer")
        elif target[0] == own[0] and target[1] != own[1]:
            problems.append(f"{module} imports {imported} from a sibling layer")
    return problems


def _project_modules() -> list[tuple[str, Path]]:
    return [
        (_module_name(path), path)
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.parent != PACKAGE_DIR or path.name != "__init__.py"
    ]


def test_every_module_belongs_to_a_layer() -> None:
    modules = [name for name, _ in _project_modules()]
    assert len(modules) > 40
    assert [name for name in modules if layer_of(name) is None] == []


def test_no_module_imports_from_above_or_inside_a_function() -> None:
    problems = [
        problem
        for name, path in _project_modules()
        for problem in violations(name, path.read_text(), path.name == "__init__.py")
    ]
    assert problems == []


def test_every_layer_exists() -> None:
    assert [p for layer in LAYERS for p in layer if not _is_module(p)] == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        (
            "soleflip_bi.cleaned.layer",
            "def install():\n    from soleflip_bi.automation.jobs import TIER_JOBS\n",
            {"inside a function", "from a higher layer"},
        ),
        (
            "soleflip_bi.views.runs",
            "def refresh():\n    from soleflip_bi.definitions import defs\n",
            {"inside a function", "from a higher layer"},
        ),
        (
            "soleflip_bi.database.connection",
            "from soleflip_bi.sources.demo import load_demo\n",
            {"from a higher layer"},
        ),
        (
            "soleflip_bi.database.connection",
            "from soleflip_bi.views.registry import VIEWS\n",
            {"from a higher layer"},
        ),
        (
            "soleflip_bi.roles.refresh",
            "from soleflip_bi.views import registry\n",
            {"from a higher layer"},
        ),
        (
            "soleflip_bi.roles.readonly",
            "from soleflip_bi.bookkeeping.locks import holding\n",
            {"from a sibling layer"},
        ),
        (
            "soleflip_bi.views.status",
            "from ..automation import sensors\n",
            {"from a higher layer"},
        ),
    ],
    ids=[
        "cleaned-imports-automation-in-a-function",
        "views-import-the-definitions",
        "database-imports-sources",
        "database-imports-the-view-registry",
        "roles-import-the-view-registry",
        "roles-import-a-sibling",
        "relative-import-upward",
    ],
)
def test_an_upward_import_is_caught(module: str, source: str, expected: set[str]) -> None:
    problems = violations(module, source)
    assert {phrase for phrase in expected if any(phrase in p for p in problems)} == expected


def test_imports_within_a_layer_and_downward_are_allowed() -> None:
    source = (
        "from soleflip_bi.views.registry import VIEWS\n"
        "from soleflip_bi.shared.catalogue import Source\n"
        "from soleflip_bi.database.steps import REFRESH_POOL\n"
        "import dagster\n"
    )
    assert violations("soleflip_bi.automation.jobs", source) == []
