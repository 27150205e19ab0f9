"""Shape check of a report document: fail before rendering, naming the field that is wrong.

Only what the renderers cannot do without is required; metrics may be missing or NaN (shown as "—").
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError

_FIX = "regenerate report.json with the reproduce pipeline (schema: `python -m pydoc verbalrec.report`)"
REQUIRED_META = ("title", "preset", "dataset", "command", "date", "n_tasks")
ROW_TABLES = ("baselines", "table1", "table2")


def validate_report_doc(doc: Any, source: object = None) -> None:
    """Raise :class:`InputError` naming the first missing or mistyped field; return None if usable."""
    _expect(doc, dict, "(document)", source)
    for key in ("meta", "baselines", "table1", "table2", "analysis", "curves", "plateau", "examples"):
        if key not in doc:
            _fail(f"missing field '{key}'", key, source)
    _check_meta(doc["meta"], source)
    for table in ROW_TABLES:
        _check_rows(doc[table], table, source)
    _check_analysis(doc["analysis"], source)
    _check_curves(doc["curves"], source)
    _check_plateau(doc["plateau"], source)
    _check_examples(doc["examples"], source)
    if doc.get("langptune") is not None:
        _check_langptune(doc["langptune"], source)


def _fail(problem: str, field: str, source: object) -> None:
    raise InputError(problem, file=source, field=field, fix=_FIX)


def _expect(value: Any, kind: type | tuple, field: str, source: object) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        _fail(f"expected {names}, got {type(value).__name__}", field, source)


def _require(obj: dict, keys: tuple[str, ...], prefix: str, source: object) -> None:
    for key in keys:
        if key not in obj:
            _fail(f"missing field '{prefix}.{key}'", f"{prefix}.{key}", source)


def _check_meta(meta: Any, source: object) -> None:
    _expect(meta, dict, "meta", source)
    _require(meta, REQUIRED_META, "meta", source)
    _expect(meta["n_tasks"], int, "meta.n_tasks", source)
    for key, kind in (("notes", list), ("steps", list), ("versions", dict), ("models", dict)):
        if meta.get(key) is not None:
            _expect(meta[key], kind, f"meta.{key}", source)
    for i, step in enumerate(meta.get("steps") or []):
        _expect(step, dict, f"meta.steps[{i}]", source)
        _require(step, ("name",), f"meta.steps[{i}]", source)


def _check_rows(rows: Any, name: str, source: object) -> None:
    _expect(rows, list, name, source)
    for i, row in enumerate(rows):
        _expect(row, dict, f"{name}[{i}]", source)
        _require(row, ("label", "system"), f"{name}[{i}]", source)
        for key in ("recall@1_discovery_ci95", "delta_pct_ci95"):
            pair = row.get(key)
            if pair is not None and not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                _fail("expected a [lo, hi] pair", f"{name}[{i}].{key}", source)


def _check_analysis(analysis: Any, source: object) -> None:
    _expect(analysis, dict, "analysis", source)
    for name, stats in analysis.items():
        _expect(stats, dict, f"analysis.{name}", source)
        if stats.get("compression_ratios") is not None:
            _expect(stats["compression_ratios"], list, f"analysis.{name}.compression_ratios", source)


def _check_points(points: Any, field: str, source: object) -> None:
    _expect(points, list, field, source)
    for i, point in enumerate(points):
        _expect(point, dict, f"{field}[{i}]", source)
        _require(point, ("step",), f"{field}[{i}]", source)


def _check_curves(curves: Any, source: object) -> None:
    _expect(curves, dict, "curves", source)
    for stage in ("stage1", "stage2"):
        runs = curves.get(stage) or {}
        _expect(runs, dict, f"curves.{stage}", source)
        for run, points in runs.items():
            _check_points(points, f"curves.{stage}.{run}", source)


def _check_plateau(params: Any, source: object) -> None:
    _expect(params, dict, "plateau", source)
    _require(params, ("low", "high"), "plateau", source)
    for key in ("low", "high"):
        _expect(params[key], (int, float), f"plateau.{key}", source)
    if not 0 < params["low"] < params["high"] < 1:
        _fail(f"need 0 < low < high < 1, got low={params['low']}, high={params['high']}", "plateau", source)


def _check_examples(examples: Any, source: object) -> None:
    _expect(examples, list, "examples", source)
    for i, ex in enumerate(examples):
        _expect(ex, dict, f"examples[{i}]", source)
        _require(ex, ("task_id", "raw", "verbalizations"), f"examples[{i}]", source)
        _expect(ex["raw"], str, f"examples[{i}].raw", source)
        _expect(ex["verbalizations"], dict, f"examples[{i}].verbalizations", source)


def _check_langptune(lpt: Any, source: object) -> None:
    _expect(lpt, dict, "langptune", source)
    _check_rows(lpt.get("rows") or [], "langptune.rows", source)
    for i, ex in enumerate(lpt.get("examples") or []):
        _expect(ex, dict, f"langptune.examples[{i}]", source)
        _require(ex, ("user_id", "before", "after"), f"langptune.examples[{i}]", source)
    _check_points(lpt.get("curves") or [], "langptune.curves", source)
