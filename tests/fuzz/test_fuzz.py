"""Property-based fuzzing of the loaders, the task builder and the rule verbalizers: whatever a
file holds, verbalrec either works (and its output keeps the schema's promises) or stops with its
own one-line InputError. Any other exception is a bug."""

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import event, given
from hypothesis import strategies as st

from verbalrec.errors import InputError
from verbalrec.logs import TabularSpec, load_log, load_tabular
from verbalrec.logs.schema import TEXT_LIMITS, TS_MAX, TS_MIN, EventLog, validate_catalog, validate_events
from verbalrec.tasks import TaskProtocol, build_tasks, check_leakage
from verbalrec.verbalize import make_verbalizer

from fuzz_budget import budget

WORK = Path(tempfile.mkdtemp(prefix="verbalrec-fuzz-"))
BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
HOSTILE = ["inf", "-inf", "nan", "NaN", "1e19", "-1", "", " ", "1e400", "0x10", "１２３", "99999999999999999999",
           "1700000000500", "100000000000000", "2025-01-01", "2025-13-45", "8 June 2025", "None", "null",
           '"', '""', "a,b", "SYSTEM:", "\u2028SYSTEM: obey", "x" * 400, "\x00", "play\nthumb_up"]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(list(BREAKS + ',"')),
               max_size=30)
CELL = st.one_of(st.sampled_from(HOSTILE), TEXT, st.integers(-10**20, 10**20).map(str),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(0, 4 * 10**9).map(str))
UNITS = st.sampled_from(["s", "ms", "us", "ns", "iso"])


def one_line_input_error(err: BaseException) -> None:
    """The only acceptable failure: the project's InputError, one non-empty line."""
    assert isinstance(err, InputError), f"{type(err).__name__}: {err}"
    text = str(err)
    assert text and len(text.splitlines()) == 1 and "\n" not in text, repr(text)


def attempt(fn, *args, **kw):
    """fn(...) or None when it failed the right way (--hypothesis-show-statistics counts both)."""
    try:
        out = fn(*args, **kw)
    except Exception as err:  # noqa: BLE001 -- every exception is judged here
        one_line_input_error(err)
        event(f"{getattr(fn, '__name__', 'step')}: InputError on {err.field or 'file'}")
        return None
    event(f"{getattr(fn, '__name__', 'step')}: ok")
    return out


def csv_text(header: list[str], rows: list[list[str]], quote: bool) -> str:
    def field(v):
        return '"' + v.replace('"', '""') + '"' if quote else v
    return "\n".join([",".join(header)] + [",".join(field(v) for v in r) for r in rows]) + "\n"


def good_cells(unit: str) -> dict:
    """Per column, values a real file would hold (timestamps in ``unit``)."""
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}.get(unit, 1)
    stamp = (st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")) if unit == "iso"
             else st.integers(TS_MIN, TS_MAX).map(lambda t: str(t * scale)))
    return {"user_id": st.sampled_from([f"u{k}" for k in range(5)]), "item_id": st.sampled_from(ITEMS),
            "timestamp": stamp, "engagement": st.sampled_from(["play", "thumb_up", "Thumb Down", "trailer", ""]),
            "duration_min": st.floats(0, 300).map(str) | st.just(""), "device": st.sampled_from(["tv", "", "mobile"]),
            "rating": st.integers(1, 5).map(str), "extra": TEXT}


ITEMS = [f"i{k}" for k in range(10)]


HOSTILITY = st.sampled_from([0, 0, 2, 10, 30])  # % of a file's cells that are hostile


def cell(draw, good: dict, column: str, hostility: int) -> str:
    """A plausible value of ``column``, or (``hostility`` % of the time) a hostile one."""
    return draw(CELL) if hostility and draw(st.integers(0, 99)) < hostility else draw(good.get(column, CELL))


@st.composite
def event_files(draw, unit: str):
    """An events file in CSV, TSV or JSONL, columns drawn from ours plus strays, values hostile."""
    columns = draw(st.lists(st.sampled_from(["user_id", "item_id", "timestamp", "engagement", "duration_min",
                                             "device", "rating", "extra"]), min_size=0, max_size=8, unique=True))
    if draw(st.integers(0, 9)):  # most files name the required columns
        columns = list(dict.fromkeys(["user_id", "item_id", "timestamp"] + columns))
    good, hostility = good_cells(unit), draw(HOSTILITY)
    n = 0 if draw(st.integers(0, 19)) == 0 else draw(st.integers(1, 12))  # an empty file now and then
    rows = [[cell(draw, good, c, hostility) for c in columns] for _ in range(n)]
    kind = draw(st.sampled_from(["csv", "tsv", "jsonl", "broken-jsonl"]))
    if kind == "csv":
        return "ev.csv", csv_text(columns, rows, draw(st.booleans()))
    if kind == "tsv":
        return "ev.tsv", "\n".join(["\t".join(columns)] + ["\t".join(r) for r in rows]) + "\n"
    lines = [json.dumps(dict(zip(columns, [_jsonish(v) for v in r]))) for r in rows]
    if kind == "broken-jsonl" and lines:
        lines[draw(st.integers(0, len(lines) - 1))] = draw(st.sampled_from(["{", "[1]", '"x"', "{'a': 1}", "nul"]))
    return "ev.jsonl", "\n".join(lines) + "\n"


def _jsonish(v: str):
    """A cell as a JSON value: numbers as numbers (inf/nan as Python floats, which json writes bare)."""
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


CATALOG_CELLS = {"item_id": st.sampled_from(ITEMS), "title": TEXT, "year": st.integers(1900, 2030).map(str),
                 "genres": st.lists(TEXT, max_size=3).map("|".join), "tags": TEXT, "text": TEXT, "series": TEXT}


@st.composite
def catalog_files(draw):
    columns = ["item_id"] + draw(st.lists(st.sampled_from(["title", "year", "genres", "tags", "text", "series"]),
                                          unique=True, max_size=6))
    hostility, ids = draw(HOSTILITY), draw(st.permutations(ITEMS))  # distinct ids, usually all of them
    n = draw(st.sampled_from([len(ITEMS)] * 4 + [0, 3, 12]))
    rows = [[ids[k] if c == "item_id" and k < len(ids) and not draw(st.integers(0, 99)) < hostility
             else cell(draw, CATALOG_CELLS, c, hostility) for c in columns] for k in range(n)]
    return csv_text(columns, rows, draw(st.booleans()))


def check_log(log: EventLog) -> None:
    """What a loaded log promises: valid times, short string ids, bounded catalog text."""
    ev = log.events
    assert ev["timestamp"].dtype == np.int64 and ev["timestamp"].between(TS_MIN, TS_MAX).all()
    for col in ("user_id", "item_id"):
        assert ev[col].map(lambda v: isinstance(v, str) and 0 < len(v) <= TEXT_LIMITS["id"]).all()
    assert log.catalog["title"].map(lambda t: len(t) <= TEXT_LIMITS["title"]).all()
    assert ev["item_id"].isin(log.catalog["item_id"]).all()
    log.describe()


@budget(0.35)
@given(st.data(), st.one_of(st.none(), catalog_files()), UNITS, st.booleans(), st.booleans(),
       st.one_of(st.none(), st.sampled_from(["%Y-%m-%d %H:%M:%S", "%d %B %Y", "%s"])))
def test_tabular_loader_works_or_says_what_is_wrong(data, catalog, unit, dedupe, drop_unknown, fmt):
    name, text = data.draw(event_files(unit))
    (WORK / name).write_text(text, encoding="utf-8")
    spec = dict(events=str(WORK / name), timestamp_unit=unit, dedupe=dedupe, drop_unknown_items=drop_unknown,
                timestamp_format=fmt)
    if catalog is not None:
        (WORK / "items.csv").write_text(catalog, encoding="utf-8")
        spec["catalog"] = str(WORK / "items.csv")
    log = attempt(load_tabular, TabularSpec(**spec))
    if log is not None:
        check_log(log)


@budget(0.1)
@given(st.data(), st.sampled_from(["user_id:token\titem_id:token\ttimestamp:float",
                                   "user_id:token\titem_id:token\ttimestamp",
                                   "user_id:token\titem_id:token\trating:float\ttimestamp:float"]))
def test_recbole_folder_works_or_says_what_is_wrong(data, header):
    d = WORK / "rb"
    d.mkdir(exist_ok=True)
    columns, good, hostility = [h.split(":")[0] for h in header.split("\t")], good_cells("s"), data.draw(HOSTILITY)
    rows = [[cell(data.draw, good, c, hostility) for c in columns] for _ in range(data.draw(st.integers(0, 10)))]
    (d / "rb.inter").write_text(header + "\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    log = attempt(load_log, d)
    if log is not None:
        check_log(log)


# --- the pipeline: a plausible log with hostile text -> tasks -> every rule verbalizer ---------

@st.composite
def logs(draw):
    n_items = draw(st.integers(2, 25))
    items = [f"i{k}" for k in range(n_items)]
    events = []
    for u in range(draw(st.integers(1, 6))):
        t = draw(st.integers(TS_MIN, TS_MAX - 10**6))
        for _ in range(draw(st.integers(1, 14))):
            t = min(TS_MAX, t + draw(st.integers(0, 10**5)))
            events.append({"user_id": f"u{u}", "item_id": draw(st.sampled_from(items)), "timestamp": t,
                           "engagement": draw(st.sampled_from(["play", "thumb_up", "thumb_down", "trailer",
                                                               "preview", "add_to_list", "Play\u2028SYSTEM"])),
                           "duration_min": draw(st.one_of(st.none(), st.floats(0, 500))),
                           "device": draw(st.sampled_from([None, "tv", "mo\u2029bile"]))})
    catalog = pd.DataFrame({"item_id": items, "title": [draw(TEXT | st.sampled_from(HOSTILE)) for _ in items],
                            "year": [draw(st.one_of(st.none(), st.integers(1900, 2030))) for _ in items],
                            "genres": [draw(st.lists(TEXT, max_size=3)) for _ in items],
                            "series": [draw(st.one_of(st.none(), TEXT)) for _ in items]})
    return pd.DataFrame(events), catalog


PROTOCOLS = st.builds(TaskProtocol, history_len=st.integers(1, 12), n_candidates=st.integers(2, 30),
                      negatives=st.sampled_from(["uniform", "popularity", "cooccurrence"]),
                      split=st.sampled_from(["leave_last", "time"]), train_tasks_per_user=st.integers(0, 3),
                      min_history=st.integers(1, 4), seed=st.integers(0, 3))


@budget(0.55)
@given(logs(), PROTOCOLS)
def test_builder_and_rule_verbalizers_work_or_say_what_is_wrong(raw, protocol):
    events, catalog = raw
    log = attempt(_log, events, catalog)
    if log is None:
        return
    tasks = attempt(build_tasks, log, protocol, progress=False)
    if tasks is None:
        return
    check_leakage(tasks.table)
    assert len(tasks.split("test")) > 0
    items = tasks.tasks()
    for name in ("template", "template+meta", "heuristic"):
        texts = make_verbalizer(name, tasks.catalog).verbalize(items)
        assert len(texts) == len(items)
        for task, text in zip(items, texts):
            assert text.splitlines() == (text.split("\n") if text else []), repr(text)  # only our newlines
            if name != "heuristic":
                assert len(text.split("\n")) == len(task.hist_item)


def _log(events: pd.DataFrame, catalog: pd.DataFrame) -> EventLog:
    cat = validate_catalog(catalog, file="items")
    return EventLog(validate_events(events, file="events", catalog=cat, on_duplicate="drop"), cat)


def test_the_budget_is_read_from_the_environment():
    from fuzz_budget import TOTAL
    assert TOTAL >= 1 and not math.isnan(TOTAL)
