"""Causal-LM reasoners: label scoring, candidate likelihood, and generation (the paper's mode).

All three read the same prompt (``prompt.build_prompt``); only the context differs between
verbalizers. ``model`` / ``tokenizer`` are any transformers causal LM (``verbalrec.models``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..logs.catalog import Catalog
from ..tasks.schema import Task
from .base import Scores
from .prompt import answer_labels, answer_text, extract_answer, fit_prompt


class _LMReasoner:
    uses_text = True
    with_candidates = True  # the prompt lists the candidates

    def __init__(self, model, tokenizer, catalog, *, max_length: int = 2048, batch_size: int = 8,
                 progress: bool = False, name: str | None = None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.catalog = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        self.max_length, self.batch_size, self.progress = max_length, batch_size, progress
        self._label_ids: dict[int, list[int] | None] = {}
        self.name = name or self.default_name
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    def fit(self, train):  # LLM reasoners are trained by `verbalrec train`, not here
        return self

    def prompts(self, tasks: Sequence[Task], contexts: Sequence[str]) -> list[str]:
        return [fit_prompt(self.tokenizer, c, t.candidates, self.catalog, self.max_length,
                           with_candidates=self.with_candidates) for t, c in zip(tasks, contexts)]

    def _batches(self, n: int):
        return tqdm(range(0, n, self.batch_size), desc=self.name, disable=not self.progress)

    def _encode_left(self, prompts: list[str]):
        self.tokenizer.padding_side = "left"  # the answer position is the last one for every row
        return self.tokenizer(prompts, return_tensors="pt", padding=True)


class LabelScoringReasoner(_LMReasoner):
    """One forward pass; score of candidate j = log P(label_j | prompt) at the last position."""

    default_name = "label"

    def label_token_ids(self, n: int) -> list[int] | None:
        """One token per label (' A', ' B', ...), or None when some label spans several tokens
        (a small BPE may merge ' A' but not ' B'); then labels are scored as exact sequences.
        Tokenized once per candidate count: this runs for every task."""
        if n not in self._label_ids:
            self._label_ids[n] = self._tokenize_labels(n)
        return self._label_ids[n]

    def _tokenize_labels(self, n: int) -> list[int] | None:
        seqs = [self.tokenizer(lab, add_special_tokens=False)["input_ids"] for lab in answer_labels(n)]
        ids = [q[0] for q in seqs]
        return ids if all(len(q) == 1 for q in seqs) and len(set(ids)) == n else None

    @torch.no_grad()
    def score(self, tasks: Sequence[Task], contexts: Sequence[str]) -> Scores:
        prompts, rows = self.prompts(tasks, contexts), []
        for i in self._batches(len(tasks)):
            batch, batch_prompts = tasks[i:i + self.batch_size], prompts[i:i + self.batch_size]
            if all(self.label_token_ids(len(t.candidates)) for t in batch):
                enc = self._encode_left(batch_prompts)
                logp = torch.log_softmax(self.model(**enc, logits_to_keep=1).logits[:, -1].float(), dim=-1)
                rows += [logp[k, self.label_token_ids(len(t.candidates))].numpy() for k, t in enumerate(batch)]
            else:
                rows += [sequence_logprobs(self.model, self.tokenizer, p, answer_labels(len(t.candidates)))[0]
                         for t, p in zip(batch, batch_prompts)]
        return Scores(_pad(rows), np.ones(len(tasks), bool))


class CandidateLikelihoodReasoner(_LMReasoner):
    """Score of candidate j = log P(answer_j | prompt) with answer_j = ' Title' (the candidate's
    title), the prompt holding the history but no candidate list (``prompt.build_prompt``), its
    KV cache computed once per task and shared by all N candidates
    (constrained generation of the answer)."""

    default_name = "likelihood"
    with_candidates = False  # each candidate is scored as the answer; listing them too only costs tokens

    def __init__(self, *args, length_normalize: bool = False, **kw):
        super().__init__(*args, **kw)
        self.length_normalize = length_normalize

    def score_one(self, prompt: str, answers: list[str]) -> np.ndarray:
        total, lengths = sequence_logprobs(self.model, self.tokenizer, prompt, answers)
        return total / lengths if self.length_normalize else total

    def score(self, tasks: Sequence[Task], contexts: Sequence[str]) -> Scores:
        prompts = self.prompts(tasks, contexts)
        it = tqdm(zip(tasks, prompts), total=len(tasks), desc=self.name, disable=not self.progress)
        rows = [self.score_one(p, [answer_text(self.catalog.title(c)) for c in t.candidates]) for t, p in it]
        return Scores(_pad(rows), np.ones(len(tasks), bool))


@torch.no_grad()
def answer_token_logprobs(model, tokenizer, prompt: str, answers: list[str], temperature: float = 1.0
                          ) -> list[np.ndarray]:
    """log P(token | prompt, earlier answer tokens) of every token of each answer, at
    ``temperature`` (logits / T, as TRL scores a completion): one prompt pass, its KV cache
    shared by all answers."""
    device = next(model.parameters()).device
    p_ids = tokenizer(prompt, return_tensors="pt")["input_ids"].to(device)
    out = model(input_ids=p_ids, use_cache=True)
    first = torch.log_softmax(out.logits[0, -1].float() / temperature, -1)
    cands = [tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers]
    width = max(len(c) for c in cands)
    ids = torch.full((len(cands), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(cands), width), dtype=torch.long)
    for j, c in enumerate(cands):
        ids[j, :len(c)], mask[j, :len(c)] = torch.tensor(c), 1
    ids, mask = ids.to(device), mask.to(device)
    cache = out.past_key_values
    cache.batch_repeat_interleave(len(cands))  # one prompt pass, shared by every answer
    attn = torch.cat([torch.ones((len(cands), p_ids.shape[1]), dtype=torch.long, device=device), mask], dim=1)
    logits = model(input_ids=ids, attention_mask=attn, past_key_values=cache).logits.float() / temperature
    logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
    per_token = torch.cat([first[ids[:, :1]], logp], dim=1).cpu().numpy()
    return [per_token[j, :len(c)] for j, c in enumerate(cands)]


def sequence_logprobs(model, tokenizer, prompt: str, answers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(log P(answer_j | prompt), token count of answer_j)."""
    rows = answer_token_logprobs(model, tokenizer, prompt, answers)
    return np.array([r.sum() for r in rows]), np.array([len(r) for r in rows])


class GenerativeReasoner(_LMReasoner):
    """Decode an answer, then extract the item from it; unparseable answers are invalid."""

    default_name = "generative"

    def __init__(self, *args, max_new_tokens: int = 16, **kw):
        super().__init__(*args, **kw)
        self.max_new_tokens = max_new_tokens
        self.last_answers: list[str] = []

    @torch.no_grad()
    def score(self, tasks: Sequence[Task], contexts: Sequence[str]) -> Scores:
        prompts, answers = self.prompts(tasks, contexts), []
        for i in self._batches(len(tasks)):
            enc = self._encode_left(prompts[i:i + self.batch_size])
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
            answers += self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        self.last_answers = answers
        n = max(len(t.candidates) for t in tasks)
        values, valid = np.zeros((len(tasks), n)), np.zeros(len(tasks), bool)
        for k, (task, answer) in enumerate(zip(tasks, answers)):
            j = extract_answer(answer, [self.catalog.title(c) for c in task.candidates])
            if j is not None:
                values[k, j], valid[k] = 1.0, True
        return Scores(values, valid)


def _pad(rows: list[np.ndarray]) -> np.ndarray:
    width = max(len(r) for r in rows)
    return np.array([np.pad(r, (0, width - len(r)), constant_values=-np.inf) for r in rows])
