"""Stage 1 with the constrained action verbalizer learns: a toy problem with a known optimum
(drop every trailer line, keep every play) that a few dozen GRPO steps measurably approach."""

import json
import os

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def _toy_tasks():
    from helpers import make_taskset
    rng = np.random.default_rng(0)
    rows = []
    for u in range(8):
        eng = ["trailer" if rng.random() < 0.5 else "play" for _ in range(10)]  # balanced: no shared-direction pull
        rows.append({"user_id": f"u{u}", "task_id": f"t{u}", "target_item": "i90", "candidates": ["i90", "i91"],
                     "hist_item": [f"i{int(x)}" for x in rng.integers(0, 30, size=10)], "hist_engagement": eng,
                     "hist_duration": [1.0 if e == "trailer" else 45.0 for e in eng]})
    return make_taskset(rows)


def drop_rates(model, layout, tasks):
    """(mean P(drop) on trailer lines, on play lines) under the constrained policy, lines in context."""
    from verbalrec.verbalize.decisions import sample_decisions
    drop = layout.words.index("drop")
    trailer, play = [], []
    for t in tasks:
        seg = layout.segments(t)
        choices, _, _ = sample_decisions(model.eval(), layout, seg, 16, 1.0, np.random.default_rng(1))
        for e, col in zip(t.hist_engagement[seg.first:], choices.T):
            (trailer if e == "trailer" else play).append(np.mean(col == drop))
    return float(np.mean(trailer)), float(np.mean(play))


def test_stage1_learns_to_drop_the_planted_kind_of_line(tmp_path):
    from datasets import Dataset

    from verbalrec.models import build_and_save, load_causal_lm
    from verbalrec.tasks import save_tasks
    from verbalrec.train.decision_rollout import DecisionRollout
    from verbalrec.train.grpo import run_grpo
    from verbalrec.train.grpo_config import Stage1Config
    from verbalrec.train.stage1 import DecisionPostprocess, verbalizer_rows
    from verbalrec.verbalize.decisions import DecisionVerbalizer, policy_line
    from verbalrec.logs.catalog import Catalog

    ts = _toy_tasks()
    save_tasks(ts, tmp_path / "tasks")
    catalog = Catalog(ts.catalog)
    tasks = ts.tasks()
    texts = [policy_line(e, catalog) for t in tasks for e in t.history()] + ["Decide for each interaction: keep drop"]
    policy = build_and_save(texts * 3, tmp_path / "policy", "tiny")
    model, tok = load_causal_lm(policy, padding_side="left")
    verbalizer = DecisionVerbalizer(model, tok, catalog, decisions=("keep", "drop"))
    layout = verbalizer.layout
    before = drop_rates(model, layout, tasks)
    post = DecisionPostprocess(catalog, tasks)

    def planted(prompts, completions, actions, task_id, **_):
        """+1 per trailer dropped and per play kept, as a share of the lines: optimum 1.0."""
        by = {t.task_id: t for t in tasks}
        return [float(np.mean([(k == 0) == (e == "trailer") for (k, _m), e in zip(a, by[i].hist_engagement)]))
                for a, i in zip(actions, task_id)]

    planted.__name__ = "planted"
    cfg = Stage1Config(tasks=str(tmp_path / "tasks"), out=str(tmp_path / "s1"), policy=str(policy), oracle="unused",
                       kind="action", decisions=("keep", "drop"), max_steps=40, num_generations=8,
                       prompts_per_step=4, learning_rate=3e-3, beta=0.0, logging_steps=5, save_steps=100,
                       max_prompt_length=256)
    rows = verbalizer_rows(ts.split("train"), verbalizer, tok, use_chat_template=False)
    out = run_grpo(cfg, stage="stage1-verbalizer", model=model.train(), tokenizer=tok, reward_funcs=[planted],
                   reward_weights=[1.0], dataset=Dataset.from_list(rows), data_hash="toy", resume=False,
                   rollout_func=DecisionRollout(layout, tasks, cfg.temperature, cfg.seed),
                   decision_tokens=layout.token_ids)
    after_model, _ = load_causal_lm(out)
    after = drop_rates(after_model, layout, tasks)
    assert after[0] > max(0.8, before[0] + 0.3), (before, after)  # trailers: dropped
    assert after[1] < 0.25, (before, after)  # plays: kept
    history = json.loads((out / "verbalrec_run.json").read_text())["log_history"]
    rewards = [h["reward"] for h in history if "reward" in h]
    assert rewards[-1] > rewards[0] + 0.2, rewards
    assert post(["x"], {"task_id": ["t0"], "actions": [[(0, 0)] * 10]}) == [""]  # the executor on the rollout's actions
