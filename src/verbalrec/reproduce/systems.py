"""System ids: how the reproduce run names each system it evaluates, built and read only here.

A system id is ``<stage>-<name>`` for a trained system (``sft-rewrite``, ``stage1-action``,
``stage1-ranking``, ``stage2-verbalized``) and the bare verbalizer or ranker name otherwise
(``template``, ``zero-shot``, ``itemknn``). The step names, the report's rows and the notes all use
these ids; the report itself never parses them (it reads the labels report.json carries). Table 1
and Table 2 rows of the trainable kinds come from ``verbalize.kinds.TRAINABLE``.
"""

from __future__ import annotations

from ..verbalize.kinds import TRAINABLE

TEMPLATE = "template"
STAGES = ("sft", "stage1", "stage2")
STAGE2_RAW, STAGE2_VERBALIZED = "stage2-raw", "stage2-verbalized"
#: Stage 1 ablations (paper Table 2): id suffix -> the Stage1Config change it makes
ABLATION_REWARDS = {"ranking": {"reward": "ranking"}, "no-length": {"alpha": 1.0}}


def system_id(stage: str, name: str) -> str:
    """``("stage1", "rewrite")`` -> ``"stage1-rewrite"``."""
    assert stage in STAGES, stage
    return f"{stage}-{name}"


def stage_of(system: str) -> str | None:
    """The stage a system id was trained by (``"stage1-rewrite"`` -> ``"stage1"``), None for an untrained one."""
    stage, sep, _ = system.partition("-")
    return stage if sep and stage in STAGES else None


def table1_spec() -> list[tuple[str, str, float | None]]:
    """(row label, system, the paper's Δ%) of Table 1; systems absent from a run are left out."""
    rows = [("Template (baseline)", TEMPLATE, None), ("Heuristic rules (no model; ours)", "heuristic", None),
            ("Template + metadata (no model)", "template+meta", None), ("Titles only (no model)", "titles", None),
            ("Sentences (no model)", "sentences", None), ("Zero-Shot Verbalizer", "zero-shot", 5.3)]
    for kind in sorted(TRAINABLE.values(), key=lambda k: k.table_order):
        rows += [(kind.sft_label, system_id("sft", kind.name), None),
                 (kind.label, system_id("stage1", kind.name), kind.paper_delta_pct)]
    return rows + [("Rewrite + Trained Reasoner (Stage 2)", STAGE2_VERBALIZED, 92.9)]


def table2_spec(alpha: float) -> list[tuple[str, str, float | None]]:
    """Table 2 (ablations); ``alpha``: Stage 1's eq. 6 weight of accuracy in this run."""
    kinds = [k for k in sorted(TRAINABLE.values(), key=lambda k: k.table_order) if k.table2_label]
    return ([("Full Pipeline", STAGE2_VERBALIZED, 92.9)]
            + [(k.table2_label, system_id("stage1", k.name), k.paper_delta_pct) for k in kinds]
            + [("Reasoner trained on Raw Interactions", STAGE2_RAW, 42.8),
               ("Reasoner trained on Verbalized Interactions", STAGE2_VERBALIZED, 92.9),
               (f"Reward: Accuracy (alpha = {alpha:g})", system_id("stage1", "rewrite"), 12.5),
               ("Reward: Ranking (MRR)", system_id("stage1", "ranking"), 0.0),
               ("Reward: Accuracy without length (alpha = 1)", system_id("stage1", "no-length"), None)])


#: Table 2 rows the notes speak of besides Table 1's
NOTED_ABLATIONS = (STAGE2_RAW, system_id("stage1", "ranking"), system_id("stage1", "no-length"))
