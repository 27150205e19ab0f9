"""The paper's template format, field by field, and the shared candidate list."""

from datetime import datetime, timezone

import pandas as pd

from verbalrec.logs.catalog import Catalog
from verbalrec.reason.prompt import candidate_labels, format_candidates
from verbalrec.verbalize.template import TemplateVerbalizer, template_line

CAT = Catalog(pd.DataFrame({"item_id": ["123456", "7"], "title": ["Stranger Things", "Evil\nTitle\tX"],
                            "year": [2016, None], "genres": [["Sci-Fi", "Horror"], []],
                            "tags": [["nostalgic", "supernatural"], []]}))
# The paper prints "20250608, Monday" but 8 June 2025 was a Sunday; we test its format on a Monday.
TS = int(datetime(2025, 6, 9, 14, 5, tzinfo=timezone.utc).timestamp())


def test_paper_example_exactly():
    line = template_line({"timestamp": TS, "item_id": "123456", "engagement": "play", "duration_min": 80.08}, CAT)
    assert line == "20250609, Monday, 2 PM, ID: 123456, Stranger Things, Play, Duration: 80.08 min"


def test_missing_fields_are_skipped():
    assert template_line({"timestamp": TS, "item_id": "123456", "engagement": None, "duration_min": float("nan")},
                         CAT) == "20250609, Monday, 2 PM, ID: 123456, Stranger Things"


def test_metadata_follows_title_like_table3():
    midnight = int(datetime(2026, 10, 22, 0, 45, tzinfo=timezone.utc).timestamp())
    line = template_line({"timestamp": midnight, "item_id": "123456", "engagement": "thumb_up"}, CAT, metadata=True)
    assert line == ("20261022, Thursday, 12 AM, ID: 123456, Stranger Things, year: 2016, genres: Sci-Fi, Horror, "
                    "plot: nostalgic, supernatural, Thumb Up")


def test_log_text_cannot_break_lines_and_unknown_items_get_a_name():
    line = template_line({"timestamp": TS, "item_id": "7", "engagement": "add_to_list"}, CAT)
    assert "\n" not in line and "Evil Title X" in line and line.endswith("Add to List")
    assert "Item 99" in template_line({"timestamp": TS, "item_id": "99"}, CAT)


def test_verbalizer_writes_one_line_per_interaction(tiny_log):
    from verbalrec.tasks import build_tasks, preset
    task = build_tasks(tiny_log, preset("paper", n_candidates=3), progress=False).split("test").tasks()[0]
    text = TemplateVerbalizer(tiny_log.catalog).verbalize([task])[0]
    assert len(text.splitlines()) == len(task.hist_item)
    assert text.splitlines()[-1].split(", ")[3] == f"ID: {task.hist_item[-1]}"


def test_candidate_list_format():
    assert candidate_labels(3) == ["A", "B", "C"] and candidate_labels(30)[:2] == ["1", "2"]
    assert format_candidates(["123456", "7"], CAT) == "A. Stranger Things\nB. Evil Title X"
    assert format_candidates(["123456"], CAT, metadata=True).startswith("A. Stranger Things (year: 2016; genres:")
