r"""The action verbalizer's compact, constrained form: one decision token per interaction.

The policy reads the history one line at a time and, right after each line, writes a single
decision token -- ``keep``, ``drop`` or ``enrich`` (keep it and add the catalog's year, genres and
plot, as in the paper's Table 3), or ``short`` if chosen (keep the title alone) -- before the next
line is written for it::

    Decide for each interaction: keep, drop or enrich.
    Task 17:
    Dark Sands: S1E3, Play, Duration: 41.20 min keep
    Hollow Crown, Trailer, Duration: 1.50 min drop
    ...

Only the decision tokens are sampled; the lines are forced (the environment writes them). So every
sample is a well-formed action list by construction (parse rate 100 %), and the deterministic
executor (``action.execute_actions``) writes the text the Reasoner reads. The paper's eq. 2 text form
(``time, ID, k, m`` lines, ``action.ActionVerbalizer``) stays the option for large models.

The policy's view of an interaction (``policy_line``) is the template line without date and ID:
what decides keep/drop is the title, the engagement and the duration, and a compact view keeps
H = 100 lines inside a small model's positions (about 12 tokens a line with title tokens). Lines that
still do not fit ``max_tokens`` (the oldest) get ``action.DEFAULT_ACTION`` (kept, not enriched).

Decisions are drawn from the policy restricted to the decision tokens at temperature ``T``:
:math:`\pi_c(d \mid ctx) = \pi(d \mid ctx)/Z(ctx)`, :math:`Z=\sum_{a} \pi(a \mid ctx)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..tasks.schema import Task
from .action import DEFAULT_ACTION, SHORT, execute_actions
from ..logs.catalog import Catalog, clean_field
from .template import template_line

#: decision word -> the executor's (keep k, enrich m); ``short`` keeps the title alone
ACTIONS: dict[str, tuple[int, int]] = {"keep": (1, 0), "drop": (0, 0), "enrich": (1, 1), "short": (1, SHORT)}
DEFAULT_DECISIONS = ("keep", "drop", "enrich")  # the paper's actions (Stage1Config.decisions' default)
DECISION_INSTRUCTION = "Decide for each interaction: {words}."


def policy_line(event: dict, catalog: Catalog) -> str:
    """The template line without its date/time and ID fields (module docstring: why)."""
    line = template_line(event, catalog)
    return line.split(f"ID: {clean_field(event['item_id'])}, ", 1)[-1]


#: spellings tried in order until the words get distinct tokens: ``" keep"`` (one token in Qwen's
#: vocabulary), ``"keep"``, then the capital initial (``" K"``, ``"K"``: single characters, which a
#: small byte-level BPE always has)
SPELLINGS = (lambda w: " " + w, lambda w: w, lambda w: " " + w[0].upper(), lambda w: w[0].upper())


def decision_tokens(tokenizer, words: Sequence[str]) -> tuple[list[int], list[int]]:
    """(forced prefix, one token per word): for the first spelling under which the words' encodings
    share a prefix (e.g. a lone space in a small BPE; none for Qwen's ``" keep"``) and then differ in
    one token each -- the one token the policy writes for that decision."""
    for spell in SPELLINGS:
        encoded = [tokenizer(spell(w), add_special_tokens=False)["input_ids"] for w in words]
        n = 0
        while all(len(e) > n + 1 for e in encoded) and len({e[n] for e in encoded}) == 1:
            n += 1
        ids = [e[n] if len(e) > n else None for e in encoded]
        if None not in ids and len(set(ids)) == len(ids):
            return encoded[0][:n], ids
    raise InputError(f"decision words {list(words)} have no distinct token after a shared prefix in this "
                     "tokenizer", field="decisions", fix="choose words whose tokens differ")


@dataclass
class Segments:
    """One task laid out for the policy: ``header`` (the prompt's tokens), then per decided
    interaction its forced ``lines[i]`` tokens (the layout's decision prefix included), a decision
    token, and ``newline``. ``first`` is the
    index of the first decided interaction (older ones take ``DEFAULT_ACTION``)."""

    header: list[int]
    lines: list[list[int]]
    newline: list[int]
    first: int
    n_events: int


class DecisionLayout:
    """Tokenizes tasks for the decision policy and turns decisions into a TRL completion."""

    def __init__(self, tokenizer, catalog: Catalog, words: Sequence[str] = DEFAULT_DECISIONS, max_tokens: int = 2000,
                 recency: bool = False):
        unknown = [w for w in words if w not in ACTIONS]
        if unknown or len(words) < 2:
            raise InputError(f"bad decision words {list(words)}", field="decisions",
                             fix=f"use two or more of {list(ACTIONS)}")
        self.tokenizer, self.catalog, self.words, self.max_tokens = tokenizer, catalog, tuple(words), max_tokens
        self.recency = recency  # number each line by its age (1 = newest): a causal reader cannot count what follows
        self.prefix, self.token_ids = decision_tokens(tokenizer, self.words)
        self.newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
        self.instruction = DECISION_INSTRUCTION.format(words=", ".join(self.words)) + (
            " Lines are numbered from the newest." if recency else "")

    def prompt(self, task: Task) -> str:
        """The prompt text; the task id makes it unique, so TRL's prompt finds its task."""
        return f"{self.instruction}\nTask {clean_field(task.task_id)}:\n"

    def segments(self, task: Task) -> Segments:
        header = self.tokenizer(self.prompt(task), add_special_tokens=False)["input_ids"]
        events = task.history()
        texts = [policy_line(e, self.catalog) for e in events]
        if self.recency:
            texts = [f"{len(texts) - i}. {t}" for i, t in enumerate(texts)]
        lines = [ids + self.prefix for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]] if events else []
        room, first = self.max_tokens - len(header), len(lines)
        while first > 0 and room - (len(lines[first - 1]) + 1 + len(self.newline)) >= 0:
            first -= 1
            room -= len(lines[first]) + 1 + len(self.newline)
        return Segments(header, lines[first:], self.newline, first, len(events))

    def completion(self, seg: Segments, choices: Sequence[int], eos: int | None) -> tuple[list[int], list[int]]:
        """(completion ids, env mask): forced tokens 0, decision tokens 1 (TRL's ``env_mask``)."""
        ids, mask = [], []
        for line, c in zip(seg.lines, choices):
            ids += line + [self.token_ids[c]] + seg.newline
            mask += [0] * len(line) + [1] + [0] * len(seg.newline)
        if eos is not None:
            ids.append(eos)
            mask.append(0)
        return ids, mask

    def actions(self, seg: Segments, choices: Sequence[int]) -> list[tuple[int, int]]:
        """One (k, m) per interaction of the task, the undecided oldest ones at the default."""
        return [DEFAULT_ACTION] * seg.first + [ACTIONS[self.words[c]] for c in choices]


def sample_decisions(model, layout: DecisionLayout, seg: Segments, n: int, temperature: float = 1.0,
                     rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` decision sequences for one task from the constrained policy (``rng=None``: greedy).

    Walks the lines with a KV cache: each step feeds the previous decision, the newline and the
    next line, and reads the logits at the line's end. Returns (choices [n, L] as indices into
    ``layout.words``, their constrained log-probs [n, L], the policy's mass on the decision tokens
    :math:`Z` [n, L])."""
    import torch

    L = len(seg.lines)
    choices, logps, mass = (np.zeros((n, L), dtype=np.int64), np.zeros((n, L)), np.ones((n, L)))
    if L == 0:
        return choices, logps, mass
    device = getattr(model, "device", torch.device("cpu"))
    allowed = torch.tensor(layout.token_ids, device=device)
    cache, feed, cache_kw = None, [seg.header + seg.lines[0]] * n, _cache_keyword(model)
    with torch.no_grad():
        for i in range(L):
            out = model(input_ids=torch.tensor(feed, device=device), use_cache=True, logits_to_keep=1,
                        **({cache_kw: cache} if cache is not None else {}))
            cache = out.get("cache", None) or out.get("past_key_values", None)
            full = torch.log_softmax(out.logits[:, -1].double() / temperature, dim=-1)
            sub = full[:, allowed]
            log_z = torch.logsumexp(sub, dim=-1, keepdim=True)
            cond = (sub - log_z).cpu().numpy()
            if rng is None:
                pick = cond.argmax(axis=1)
            else:
                probs = np.exp(cond)
                pick = np.array([rng.choice(len(p), p=p / p.sum()) for p in probs])
            choices[:, i], logps[:, i] = pick, cond[np.arange(n), pick]
            mass[:, i] = np.exp(log_z[:, 0].cpu().numpy())
            if i + 1 < L:
                feed = [[layout.token_ids[c]] + seg.newline + seg.lines[i + 1] for c in pick]
    return choices, logps, mass


def _cache_keyword(model) -> str:
    """transformers 5.2x renamed ``past_key_values`` to ``cache``; both are accepted here."""
    import inspect
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class DecisionVerbalizer:
    """The constrained action verbalizer at inference: greedy decisions, then the executor."""

    kind, default_name = "action", "action"

    def __init__(self, model, tokenizer, catalog, *, name: str | None = None, decisions: Sequence[str] = DEFAULT_DECISIONS,
                 max_tokens: int | None = None, version_tag: str | None = None, recency: bool = False, **_):
        """``**_``: the text kinds' generation settings (budgets, chat template), which do not apply."""
        words = tuple(decisions)
        from pathlib import Path

        from .llm import short_hash
        self.model, self.tokenizer = model, tokenizer
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        positions = getattr(getattr(model, "config", None), "max_position_embeddings", None) or 2048
        self.layout = DecisionLayout(tokenizer, self.catalog, words, max_tokens or positions - 8, recency=recency)
        self.name = name or self.default_name
        tag = version_tag if version_tag is not None else Path(str(getattr(model, "name_or_path", ""))).name
        self.version = "d1-" + short_hash(self.layout.instruction, self.layout.words, self.layout.max_tokens, tag)
        self.fallbacks = 0  # never: every output is a valid action list
        self.last_actions: list[list[tuple[int, int]]] = []

    def prompt_for(self, task: Task) -> str:
        return self.layout.prompt(task)

    def verbalize(self, tasks: Sequence[Task]) -> list[str]:
        was_training = self.model.training
        self.model.eval()
        try:
            self.last_actions = []
            for task in tasks:
                seg = self.layout.segments(task)
                choices, _, _ = sample_decisions(self.model, self.layout, seg, 1)
                self.last_actions.append(self.layout.actions(seg, choices[0]))
        finally:
            self.model.train(was_training)
        return [execute_actions(t, a, self.catalog) for t, a in zip(tasks, self.last_actions)]
