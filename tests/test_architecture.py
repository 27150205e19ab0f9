"""The import rules of docs/architecture.md, checked on every module's imports (``ast``, no import run).

Arrows point one way, down the pipeline: a package imports only the shared bottom modules and the
packages listed before it in ``LAYERS``. Lazy imports inside functions count like top-level ones.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "verbalrec"

#: shared types and helpers at the bottom of the tree: they import only each other
BOTTOM = ("errors", "atomic", "config", "fence", "compression", "metrics")
#: the pipeline order: each package may import the bottom and the packages before it
LAYERS = ("logs", "models", "tasks", "verbalize", "reason", "evaluate", "rewards", "train", "report",
          "reproduce", "cli")
#: pairs that sit at one height and never import each other, whatever their place in LAYERS
FORBIDDEN = {("logs", "models"), ("verbalize", "reason"), ("reason", "verbalize"), ("report", "tasks"),
             ("report", "verbalize"), ("report", "reason"), ("report", "evaluate"), ("report", "rewards"),
             ("report", "train"), ("report", "logs"), ("report", "models")}


def unit_of(path: Path) -> str:
    """The package (or bottom module) a file belongs to: ``reason/lm.py`` -> ``reason``."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def imported_units(path: Path) -> set[str]:
    """Every verbalrec unit ``path`` imports, top-level or inside a function."""
    package = list(path.relative_to(SRC.parent).with_suffix("").parts)[:-1]  # verbalrec, <pkg>
    if path.name == "__init__.py":
        package = list(path.relative_to(SRC.parent).parts[:-1])
    units = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                # ``from . import x`` / ``from .. import x``: x may itself be a unit
                modules = [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
            else:
                modules = [node.module or ""]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "verbalrec" and len(parts) > 1:
                units.add(parts[1])
    return units


def all_imports() -> dict[str, set[str]]:
    """unit -> the other units it imports (over all of its files)."""
    out: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        if path == SRC / "__init__.py":
            continue
        unit = unit_of(path)
        out.setdefault(unit, set()).update(imported_units(path) - {unit})
    return out


IMPORTS = all_imports()


def test_every_unit_has_a_place():
    assert set(IMPORTS) == set(BOTTOM) | set(LAYERS), "add a new package or bottom module to BOTTOM or LAYERS"


@pytest.mark.parametrize("unit", BOTTOM)
def test_bottom_modules_import_only_the_bottom(unit):
    assert IMPORTS[unit] <= set(BOTTOM), f"{unit} imports {sorted(IMPORTS[unit] - set(BOTTOM))}"


@pytest.mark.parametrize("unit", LAYERS)
def test_arrows_point_down_the_pipeline(unit):
    allowed = set(BOTTOM) | set(LAYERS[:LAYERS.index(unit)])
    assert IMPORTS[unit] <= allowed, f"{unit} imports {sorted(IMPORTS[unit] - allowed)}, above it in the pipeline"


@pytest.mark.parametrize("unit", ("logs", "models"))
def test_logs_and_models_import_no_other_package(unit):
    assert IMPORTS[unit] <= set(BOTTOM), f"{unit} imports {sorted(IMPORTS[unit] - set(BOTTOM))}"


def test_siblings_stay_apart():
    bad = sorted((a, b) for a, b in FORBIDDEN if b in IMPORTS[a])
    assert not bad, f"forbidden imports: {bad}"


def test_report_reads_only_report_json():
    """``report`` renders the validated report.json: it imports only the bottom modules."""
    assert IMPORTS["report"] <= set(BOTTOM), f"report imports {sorted(IMPORTS['report'] - set(BOTTOM))}"


def test_nothing_imports_cli_or_reproduce():
    users = {unit: sorted(imports & {"cli", "reproduce"}) for unit, imports in IMPORTS.items()
             if unit not in ("cli", "reproduce") and imports & {"cli", "reproduce"}}
    assert not users, f"imports of the top layers: {users}"
    assert "cli" not in IMPORTS["reproduce"]


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The parser itself: a lazy relative import inside a function is found."""
    assert "verbalize" in IMPORTS["evaluate"] and "train" in IMPORTS["reproduce"]
    assert "models" in IMPORTS["reason"]  # reason/__init__.py imports ..models inside a function
