"""The constrained action verbalizer: every sample is a well-formed action list, the executor
writes exactly what the decisions say, and sampling follows the constrained policy."""

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import make_taskset  # noqa: E402
from verbalrec.verbalize.action import DEFAULT_ACTION, execute_actions  # noqa: E402
from verbalrec.verbalize.decisions import (ACTIONS, DecisionLayout, DecisionVerbalizer, policy_line,  # noqa: E402
                                           sample_decisions)
from verbalrec.logs.catalog import Catalog  # noqa: E402
from verbalrec.verbalize.template import template_line  # noqa: E402
from verbalrec.train.decision_rollout import DecisionRollout  # noqa: E402

ENGAGEMENTS = ["play", "trailer", "thumb_up", "preview", "play"]


def _tasks(n_hist=(5, 9, 3)):
    rows = []
    for k, n in enumerate(n_hist):
        hist = [f"i{(k + j) % 12}" for j in range(n)]
        rows.append({"user_id": f"u{k}", "task_id": f"t{k}", "target_item": "i99", "candidates": ["i99", "i98"],
                     "hist_item": hist, "hist_engagement": [ENGAGEMENTS[j % 5] for j in range(n)],
                     "hist_duration": [1.0 if ENGAGEMENTS[j % 5] == "trailer" else 40.0 + j for j in range(n)]})
    return make_taskset(rows)


@pytest.fixture(scope="module")
def tok():
    from verbalrec.models import train_tokenizer
    ts = _tasks()
    cat = Catalog(ts.catalog)
    lines = [policy_line(e, cat) for t in ts.tasks() for e in t.history()]
    return train_tokenizer(lines * 3 + ["Decide for each interaction: keep, drop, enrich. Task"], 300)


class _Trainer:  # what DecisionRollout reads of a GRPOTrainer
    def __init__(self, model, tok):
        self.model, self.processing_class = model, tok
        self.accelerator = type("A", (), {"unwrap_model": staticmethod(lambda m: m)})()


def test_policy_line_is_the_template_line_without_time_and_id():
    ts = _tasks()
    cat = Catalog(ts.catalog)
    event = ts.tasks()[0].history()[1]
    assert template_line(event, cat).endswith(policy_line(event, cat))
    assert "ID:" not in policy_line(event, cat) and policy_line(event, cat).startswith(cat.title(event["item_id"]))


@pytest.mark.parametrize("seed", range(6))
def test_a_constrained_sample_is_always_a_well_formed_action_list(tok, seed):
    """Property over random models (random logits), temperatures and decision sets."""
    from verbalrec.models import build_model
    rng = np.random.default_rng(seed)
    ts = _tasks(tuple(rng.integers(0, 12, size=3)))
    words = [("keep", "drop"), ("keep", "drop", "enrich")][seed % 2]
    layout = DecisionLayout(tok, Catalog(ts.catalog), words)
    rollout = DecisionRollout(layout, ts.tasks(), temperature=float(rng.uniform(0.3, 3.0)), seed=seed)
    model = build_model("tiny", tok, seed=seed)
    prompts = [layout.prompt(t) for t in ts.tasks() for _ in range(4)]
    out = rollout(prompts, _Trainer(model, tok))
    for prompt, ids, mask, actions, lps in zip(prompts, out["completion_ids"], out["env_mask"], out["actions"],
                                               out["logprobs"]):
        task = rollout.tasks[prompt]
        seg = layout.segments(task)
        decided = [i for i, m in zip(ids, mask) if m]
        assert len(decided) == len(seg.lines) == task_len(task)  # one decision per interaction
        assert set(decided) <= set(layout.token_ids)
        forced = [i for i, m in zip(ids, mask) if not m]
        assert forced == [t for line in seg.lines for t in line + seg.newline] + [tok.eos_token_id]
        assert len(actions) == len(task.hist_item) and all(a in {ACTIONS[w] for w in words} for a in actions)
        assert len(lps) == len(ids) and all(lp <= 1e-9 for lp in lps)
        execute_actions(task, actions, layout.catalog)  # the executor accepts every sample


def task_len(task):
    return len(task.hist_item)


def test_sampling_follows_the_constrained_policy_and_greedy_is_its_mode(tok):
    from verbalrec.models import build_model
    ts = _tasks((1,))
    layout = DecisionLayout(tok, Catalog(ts.catalog))
    model = build_model("tiny", tok, seed=3).eval()
    seg = layout.segments(ts.tasks()[0])
    choices, logps, mass = sample_decisions(model, layout, seg, 3000, 1.0, np.random.default_rng(0))
    freq = np.bincount(choices[:, 0], minlength=3) / 3000
    p = np.array([np.exp(logps[choices[:, 0] == a, 0][0]) for a in range(3)])
    assert p.sum() == pytest.approx(1.0, abs=1e-6) and np.allclose(freq, p, atol=0.03)
    assert 0 < mass[0, 0] <= 1
    greedy, _, _ = sample_decisions(model, layout, seg, 1)
    assert greedy[0, 0] == int(np.argmax(p))


def test_the_executor_on_hand_made_decisions(tok):
    ts = _tasks((5,))
    task, cat = ts.tasks()[0], Catalog(ts.catalog)
    layout = DecisionLayout(tok, cat)
    seg = layout.segments(task)
    keep, drop, enrich = (layout.words.index(w) for w in ("keep", "drop", "enrich"))
    actions = layout.actions(seg, [keep, drop, enrich, drop, keep])
    assert actions == [(1, 0), (0, 0), (1, 1), (0, 0), (1, 0)]
    events = task.history()
    assert execute_actions(task, actions, cat).splitlines() == [
        template_line(events[0], cat), template_line(events[2], cat, metadata=True), template_line(events[4], cat)]
    assert execute_actions(task, layout.actions(seg, [drop] * 5), cat) == ""
    four = DecisionLayout(tok, cat, words=("keep", "drop", "enrich", "short"))
    short = four.words.index("short")
    assert execute_actions(task, four.actions(seg, [short, drop, drop, drop, keep]), cat).splitlines() == [
        cat.title(events[0]["item_id"]), template_line(events[4], cat)]


def test_lines_that_do_not_fit_the_policy_window_keep_the_default(tok):
    ts = _tasks((9,))
    task, cat = ts.tasks()[0], Catalog(ts.catalog)
    full = DecisionLayout(tok, cat).segments(task)
    room = len(full.header) + sum(len(x) + 1 + len(full.newline) for x in full.lines[-3:])
    seg = DecisionLayout(tok, cat, max_tokens=room).segments(task)
    assert seg.first == 6 and seg.lines == full.lines[-3:]
    drop = 1
    assert DecisionLayout(tok, cat).actions(seg, [drop] * 3) == [DEFAULT_ACTION] * 6 + [(0, 0)] * 3


def test_the_verbalizer_writes_the_executed_greedy_decisions(tok):
    from verbalrec.models import build_model
    ts = _tasks()
    model = build_model("tiny", tok, seed=1)
    v = DecisionVerbalizer(model, tok, ts.catalog)
    texts = v.verbalize(ts.tasks())
    assert texts == [execute_actions(t, a, v.catalog) for t, a in zip(ts.tasks(), v.last_actions)]
    assert v.verbalize(ts.tasks()) == texts  # greedy: deterministic


def test_decision_words_must_start_with_distinct_tokens(tok):
    from verbalrec.errors import InputError
    with pytest.raises(InputError, match="decision"):
        DecisionLayout(tok, Catalog(_tasks().catalog), ("keep", "bogus"))
    with pytest.raises(InputError, match="no distinct token"):
        DecisionLayout(tok, Catalog(_tasks().catalog), ("keep", "keep"))


def test_recency_numbers_the_policy_lines_from_the_newest(tok):
    ts = _tasks((5,))
    task, cat = ts.tasks()[0], Catalog(ts.catalog)
    plain, aged = DecisionLayout(tok, cat).segments(task), DecisionLayout(tok, cat, recency=True).segments(task)
    texts = [tok.decode(line) for line in aged.lines]
    assert [t.split(".")[0] for t in texts] == ["5", "4", "3", "2", "1"]
    assert all(tok.decode(p).strip() in t for p, t in zip(plain.lines, texts))
    assert DecisionLayout(tok, cat, recency=True).instruction != DecisionLayout(tok, cat).instruction
