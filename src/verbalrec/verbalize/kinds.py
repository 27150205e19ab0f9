"""Trainable verbalizer kinds: the one registry Stage 1, the SFT warm start, Stage 2 and the report read.

A kind is a verbalizer whose model is trained (paper section 4.3): its policy builder (the
verbalizer whose ``prompt_for``/``postprocess`` frame the policy's samples, at training and at
inference), the hand-made targets the SFT warm start imitates, and its Table 1 rows. Adding a kind
is one ``TrainableKind`` entry in ``TRAINABLE`` below; everything else (config checks, the
``make_verbalizer`` name, the reproduce steps and table rows) follows from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import InputError
from ..logs.catalog import Catalog
from ..models.saved import run_config, weights_tag
from ..tasks.schema import Task


@dataclass(frozen=True)
class TrainableKind:
    name: str
    #: ``policy(model, tokenizer, catalog, **kw)`` -> the kind's verbalizer (imports torch: lazily)
    policy: Callable[..., object]
    #: ``sft_targets(tasks, catalog)`` -> the hand-made verbalizations the SFT warm start imitates
    sft_targets: Callable[[Sequence[Task], Catalog], list[str]]
    label: str                        # Table 1 row of its Stage 1 verbalizer
    table2_label: str | None          # Table 2 row of its Stage 1 verbalizer (None: not in Table 2)
    sft_label: str                    # Table 1 row of its SFT-only warm start
    paper_delta_pct: float | None     # the paper's Table 1 Δ% of the Stage 1 row (None: not in the paper)
    table_order: int                  # its rows' place in Table 1 (the paper's order)
    needs_token_budget: bool = True   # a loaded model needs max_new_tokens > 0 (action sizes itself)
    decisions: bool = False           # sampled by the constrained decision rollout (``train.decision_rollout``)
    sft: bool = True                  # the SFT warm start applies (constrained samples are valid without it)


def _rewrite_policy(*args, **kw):
    from .llm import RewriteVerbalizer
    return RewriteVerbalizer(*args, **kw)


def _rewrite_targets(tasks: Sequence[Task], catalog: Catalog) -> list[str]:
    from .heuristic import HeuristicVerbalizer
    return HeuristicVerbalizer(catalog).verbalize(tasks)


def _action_text_policy(*args, **kw):
    from .action import ActionVerbalizer
    return ActionVerbalizer(*args, **kw)


def _action_policy(*args, **kw):
    from .decisions import DecisionVerbalizer
    return DecisionVerbalizer(*args, **kw)


def _action_targets(tasks: Sequence[Task], catalog: Catalog) -> list[str]:
    from .action import format_actions, heuristic_actions
    return [format_actions(t, heuristic_actions(t, catalog)) for t in tasks]


TRAINABLE: dict[str, TrainableKind] = {k.name: k for k in (
    TrainableKind("rewrite", _rewrite_policy, _rewrite_targets, label="Rewrite Verbalizer (Stage 1)",
                  table2_label="Verbalizer: Rewrite",
                  sft_label="Rewrite, SFT warm-up only (ours)", paper_delta_pct=12.5, table_order=2),
    TrainableKind("action", _action_policy, _action_targets, label="Action-Based Verbalizer (Stage 1)",
                  table2_label="Verbalizer: Action-Based only",
                  sft_label="Action-Based, SFT warm-up only (ours)", paper_delta_pct=10.7, table_order=1,
                  needs_token_budget=False, decisions=True, sft=False),
    TrainableKind("action-text", _action_text_policy, _action_targets,
                  label="Action-Based, eq. 2 text lines (Stage 1; ours)", table2_label=None,
                  sft_label="Action-Based eq. 2 text, SFT warm-up only (ours)", paper_delta_pct=None, table_order=1,
                  needs_token_budget=False),
)}
KINDS = tuple(TRAINABLE)


def make_policy_verbalizer(kind: str, model, tokenizer, catalog: Catalog, *, max_new_tokens: int | None,
                           max_prompt_tokens: int | None, use_chat_template: bool = True, **kw):
    """The verbalizer whose ``prompt_for``/``postprocess`` frame the policy's samples."""
    return TRAINABLE[kind].policy(model, tokenizer, catalog, max_new_tokens=max_new_tokens,
                                  max_prompt_tokens=max_prompt_tokens, use_chat_template=use_chat_template, **kw)


def sft_targets(kind: str, tasks: Sequence[Task], catalog: Catalog) -> list[str]:
    """The hand-made verbalizations a ``kind`` policy imitates in the SFT warm start."""
    return TRAINABLE[kind].sft_targets(tasks, catalog)


def load_verbalizer_model(path: str | Path, catalog: Catalog, *, kind: str = "", max_new_tokens: int = 256,
                          batch_size: int = 8):
    """A trained verbalizer model directory as a Verbalizer: kind, prompt budget and chat-template
    use come from the run that trained it (``kind`` overrides)."""
    import torch

    from ..models import load_causal_lm

    path = Path(path)
    run = run_config(path)
    kind = kind or run.get("kind", "rewrite")
    if TRAINABLE[kind].needs_token_budget and not max_new_tokens:
        raise InputError(f"a {kind} verbalizer needs a token budget", field="verbalizer_max_new_tokens",
                         fix="use e.g. 256")
    model, tokenizer = load_causal_lm(path, device="cuda" if torch.cuda.is_available() else "cpu")
    return make_policy_verbalizer(kind, model, tokenizer, catalog, max_new_tokens=max_new_tokens or None,
                                  max_prompt_tokens=run.get("max_prompt_length"),
                                  use_chat_template=run.get("use_chat_template", True), batch_size=batch_size,
                                  version_tag=weights_tag(path),  # the dir name alone misses retrained weights
                                  **({"decisions": tuple(run["decisions"]), "recency": bool(run.get("decision_recency"))}
                                     if TRAINABLE[kind].decisions and run.get("decisions") else {}))
