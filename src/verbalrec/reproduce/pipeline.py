"""``verbalrec reproduce``: the paper end to end, as cached steps, into one report document.

tasks -> classical baselines -> (warm start) -> frozen-Reasoner evals of template / heuristic /
zero-shot -> per kind: verbalizer SFT, Stage 1 -> ablations (ranking reward, alpha = 1) ->
Stage 2 on the Stage 1 verbalizer and on raw template -> every system evaluated on the same
tasks -> Table 1 / Table 2 analogues with paired-bootstrap CIs, analysis, curves, examples.
Each step is cached by its spec (``steps.Steps``); a second run only reads results.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_json, write_parquet
from ..errors import InputError
from ..evaluate.loop import EvalResult, evaluate
from ..logs.catalog import Catalog
from ..metrics import summarize
from ..models.saved import weights_tag
from ..models.threads import cpu_threads
from ..tasks.schema import TaskSet
from ..verbalize.kinds import TRAINABLE
from . import launch
from .config import ReproduceConfig, stage_config, stage_configs
from .document import build_doc, stage2_kind
from .steps import Steps
from .systems import ABLATION_REWARDS, STAGE2_RAW, STAGE2_VERBALIZED, TEMPLATE, system_id

METRICS = ("hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", "mrr", "valid")


# ---------------------------------------------------------------- data and tasks

def _data_spec(cfg: ReproduceConfig) -> dict:
    spec = {"data": cfg.data, "protocol": cfg.protocol, "history_len": cfg.history_len, "seed": cfg.seed}
    if cfg.data == "synthetic":
        spec["synthetic"] = cfg.synthetic
    elif Path(cfg.data).exists():  # the user's own logs: a changed file is a new step
        files = [Path(cfg.data)] if Path(cfg.data).is_file() else sorted(Path(cfg.data).rglob("*"))
        spec["files"] = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()]
    return spec


def tasks_step(cfg: ReproduceConfig, steps: Steps) -> dict:
    def build(step_dir: Path, resume: bool) -> dict:
        from ..logs import load_log
        from ..tasks import build_tasks, save_tasks
        from ..tasks.protocol import preset

        truth = None
        if cfg.data == "synthetic":
            from ..logs.synthetic import SyntheticConfig, generate
            log, truth = generate(SyntheticConfig(**{"seed": cfg.seed, **cfg.synthetic}))
            write_json(step_dir / "truth.json", truth)
        else:
            log = load_log(cfg.data)
        protocol = preset(cfg.protocol, history_len=cfg.history_len or None, seed=cfg.seed)
        tasks = build_tasks(log, protocol, progress=False)
        save_tasks(tasks, step_dir / "tasks")
        return {"tasks": str(step_dir / "tasks"), "truth": str(step_dir / "truth.json") if truth else None,
                "counts": tasks.meta["counts"], "events": int(len(log.events))}
    return steps.run("tasks", _data_spec(cfg), build)


# ---------------------------------------------------------------- evaluation steps

class Recording:
    """A verbalizer that keeps what it wrote, for the analysis and the examples."""

    def __init__(self, inner):
        self.inner, self.name, self.texts = inner, inner.name, []

    def verbalize(self, tasks):
        out = self.inner.verbalize(tasks)
        self.texts += out
        return out


@dataclasses.dataclass
class Context:
    cfg: ReproduceConfig
    steps: Steps
    tasks_dir: str
    test: TaskSet
    train: TaskSet
    catalog: Catalog
    cache: Path

    def eval_spec(self, reasoner: dict, verbalizer: dict | None) -> dict:
        ident = lambda d: {k: model_identity(v) if k == "model" else v for k, v in d.items()} if d else d  # noqa: E731
        return {"tasks": self.tasks_dir, "split": self.cfg.split, "limit": self.cfg.eval_limit, "seed": self.cfg.seed,
                "reasoner": ident(reasoner), "verbalizer": ident(verbalizer), "max_length": self.cfg.max_length}


def make_eval_verbalizer(ctx: Context, spec: dict | None):
    """``{"name": template|heuristic}``, ``{"name": "zero-shot", "model": m}`` or ``{"model": trained dir}``."""
    if spec is None:
        return None
    from ..verbalize import RULE_VERBALIZERS, make_verbalizer
    from ..verbalize.cache import CachedVerbalizer, VerbalizationCache
    from ..verbalize.kinds import load_verbalizer_model

    if spec.get("name") in RULE_VERBALIZERS:
        return make_verbalizer(spec["name"], ctx.catalog)
    if spec.get("name") == "zero-shot":
        from ..reason import load_model
        model = spec["model"]
        tag = weights_tag(Path(model)) if Path(model).is_dir() else model
        inner = make_verbalizer("zero-shot", ctx.catalog, load_model(model), version_tag=tag,
                                max_new_tokens=ctx.cfg.verbalizer_max_new_tokens)
    else:
        inner = load_verbalizer_model(spec["model"], ctx.catalog, max_new_tokens=ctx.cfg.verbalizer_max_new_tokens)
    return CachedVerbalizer(inner, VerbalizationCache(ctx.cache))


def make_eval_reasoner(ctx: Context, spec: dict):
    if spec["kind"] == "ranker":
        from ..reason import make_ranker
        return make_ranker(spec["name"], ctx.cfg.seed)
    from ..reason import make_reasoner
    return make_reasoner(spec["mode"], spec["model"], ctx.catalog, max_length=ctx.cfg.max_length)


def save_eval(step_dir: Path, res: EvalResult, texts: list[str] | None) -> None:
    cols = {"task_id": res.task_ids, "discovery": res.discovery, **{m: res.per_task[m] for m in METRICS}}
    if texts is not None:
        cols["context"] = texts
    write_parquet(step_dir / "per_task.parquet", pd.DataFrame(cols))


def load_eval(step_dir: str | Path, system: str) -> tuple[EvalResult, list[str] | None]:
    df = pd.read_parquet(Path(step_dir) / "per_task.parquet")
    per_task = {m: df[m].to_numpy(float) for m in METRICS}
    disc = df["discovery"].to_numpy(bool)
    texts = df["context"].tolist() if "context" in df else None
    chars = np.array([len(t) for t in texts], float) if texts is not None else None
    return EvalResult(system, df["task_id"].tolist(), disc, per_task, summarize(per_task, disc), chars), texts


def eval_step(ctx: Context, system: str, reasoner: dict, verbalizer: dict | None) -> tuple[EvalResult, list[str] | None]:
    """One system on the evaluation tasks, cached; returns its per-task metrics and contexts."""
    def run(step_dir: Path, resume: bool) -> dict:
        verb = make_eval_verbalizer(ctx, verbalizer)
        rec = Recording(verb) if verb is not None else None
        model = make_eval_reasoner(ctx, reasoner)
        model.fit(ctx.train)  # classical rankers learn from the training split; a no-op for LMs
        t0 = time.perf_counter()
        res = evaluate(ctx.test, model, rec, progress=False, system=system)
        save_eval(step_dir, res, rec.texts if rec is not None and res.context_chars is not None else None)
        return {"system": system, "summary": res.summary, "score_s": round(time.perf_counter() - t0, 1)}

    name, spec = "eval-" + system.replace("/", "_"), ctx.eval_spec(reasoner, verbalizer)
    result = ctx.steps.run(name, spec, run)
    return load_eval(ctx.steps.dir_for(name, spec), result["system"])


# ---------------------------------------------------------------- training steps

def model_identity(value):
    """A model directory is identified by its weights too: a model retrained in place (e.g. a
    ``reasoner: runs/my-model`` the user trained again) must not hit the old cache."""
    path = Path(str(value))
    if path.is_dir() and any(path.glob("*.safetensors")):
        return f"{value}@{weights_tag(path)}"
    return value


def _spec_of(stage_cfg) -> dict:
    return {k: model_identity(v) for k, v in dataclasses.asdict(stage_cfg).items() if k != "out"}


def train_step(ctx: Context, name: str, section: str, train_fn, defaults: dict, wiring: dict) -> str:
    """A training stage as a step; returns the trained model's directory."""
    cls = stage_configs()[section]
    probe = stage_config(ctx.cfg, section, cls, defaults=defaults, **wiring, out="<step>")

    def run(step_dir: Path, resume: bool) -> dict:
        out = step_dir / "model"
        stage_cfg = dataclasses.replace(probe, out=str(out))
        if launch.launched(ctx.cfg):
            launch.run_step(ctx.cfg, section, stage_cfg, step_dir, resume and out.exists(), ctx.steps.log)
        else:
            train_fn(stage_cfg, resume=resume and out.exists())
        return {"path": str(out)}
    return ctx.steps.run(name, {"section": section, **_spec_of(probe), **launch.launch_spec(ctx.cfg)}, run)["path"]


def warmstart_step(ctx: Context) -> str:
    from ..train.warmstart import warm_start
    return train_step(ctx, "warmstart", "warmstart", warm_start, {"max_length": ctx.cfg.max_length},
                      {"tasks": ctx.tasks_dir})


def sft_step(ctx: Context, kind: str, base: str) -> str:
    from ..train.sft_verbalizer import sft_verbalizer
    return train_step(ctx, system_id("sft", kind), "sft", sft_verbalizer, {}, {"tasks": ctx.tasks_dir, "model": base, "kind": kind})


def stage1_step(ctx: Context, name: str, kind: str, policy: str, oracle: str, **reward) -> str:
    from ..train.stage1 import train_verbalizer
    cfg = ctx.cfg
    local = not cfg.stage1_oracle_is_endpoint
    wiring = {"tasks": ctx.tasks_dir, "policy": policy, "oracle": oracle, "kind": kind,
              "oracle_mode": cfg.reasoner_mode if local else "", "oracle_model": cfg.oracle_model,
              **reward}
    return train_step(ctx, name, "stage1", train_verbalizer, {"oracle_max_length": cfg.max_length}, wiring)


def stage2_step(ctx: Context, name: str, policy: str, verbalizer: str) -> str:
    from ..train.stage2 import train_reasoner
    return train_step(ctx, name, "stage2", train_reasoner,
                      {"max_prompt_length": ctx.cfg.max_length,
                       "verbalizer_max_new_tokens": ctx.cfg.verbalizer_max_new_tokens},
                      {"tasks": ctx.tasks_dir, "policy": policy, "verbalizer": verbalizer})


def langptune_step(ctx: Context, writer: str) -> dict:
    """LangPTune (its own table): the writer trained on the embedding reasoner's ranking reward,
    evaluated on the same split and tasks as everything else."""
    from ..train.langptune import run_langptune
    from ..train.langptune_config import RESULTS as LANGPTUNE_RESULTS
    cfg = ctx.cfg
    probe = stage_config(cfg, "langptune", stage_configs()["langptune"], tasks=ctx.tasks_dir, writer=writer,
                         policy=writer, eval_split=cfg.split, eval_limit=cfg.eval_limit, out="<step>")

    def run(step_dir: Path, resume: bool) -> dict:
        out = step_dir / "model"
        stage_cfg = dataclasses.replace(probe, out=str(out))
        if launch.launched(cfg):  # trains on every process, evaluates on the main one: read its document
            launch.run_step(cfg, "langptune", stage_cfg, step_dir, resume and out.exists(), ctx.steps.log)
            doc = json.loads((out / LANGPTUNE_RESULTS).read_text())
        else:
            doc = run_langptune(stage_cfg, resume=resume and out.exists())
        return {k: doc.get(k) for k in ("rows", "examples", "curves", "trained_vs_zero_shot")}
    return ctx.steps.run("langptune", {"section": "langptune", **_spec_of(probe), **launch.launch_spec(cfg)}, run)


# ---------------------------------------------------------------- the run

def run_reproduce(cfg: ReproduceConfig, command: str = "", log=print) -> dict:
    """Run (or read from the cache) every step of ``cfg``; write report.json and the report."""
    from ..tasks import load_tasks
    from ..train.distributed import world_size
    if world_size() > 1:
        raise InputError("reproduce runs as one process and launches its training steps itself",
                         field="num_processes", fix="run `verbalrec reproduce --num-processes N` without accelerate launch")
    t_start = time.perf_counter()
    root = Path(cfg.out)
    steps = Steps(root, log)
    with cpu_threads(cfg.cpu_threads):
        data = tasks_step(cfg, steps)
        tasks = load_tasks(data["tasks"])
        test = tasks.split(cfg.split)
        test = test.head(cfg.eval_limit) if cfg.eval_limit else test
        ctx = Context(cfg, steps, data["tasks"], test, tasks.split("train"), Catalog(tasks.catalog),
                      root / "verbalizations.sqlite")
        evals, texts, models = run_systems(ctx)
        lpt = langptune_step(ctx, models["verbalizer_base"]) if cfg.with_langptune else None
    doc = build_doc(ctx, data, evals, texts, models, command, time.perf_counter() - t_start)
    doc["langptune"] = lpt
    write_json(root / "report.json", doc)
    write_report(doc, root, log)
    return doc


def run_systems(ctx: Context) -> tuple[dict, dict, dict]:
    """Every step in order; ``evals[system]``, ``texts[system]`` and the model directories used."""
    cfg = ctx.cfg
    evals, texts = {}, {}

    def ev(system, reasoner, verbalizer):
        evals[system], texts[system] = eval_step(ctx, system, reasoner, verbalizer)

    for name in cfg.baselines:
        ev(name, {"kind": "ranker", "name": name}, None)
    reasoner = warmstart_step(ctx) if cfg.reasoner == "warmstart" else cfg.reasoner
    frozen = {"kind": "lm", "model": reasoner, "mode": cfg.reasoner_mode}
    base = reasoner if cfg.verbalizer == "reasoner" else cfg.verbalizer
    oracle = reasoner if cfg.oracle == "reasoner" else cfg.oracle
    for name in cfg.rule_verbalizers:
        ev(name, frozen, {"name": name})
    ev("zero-shot", frozen, {"name": "zero-shot", "model": base})
    models = {"reasoner": reasoner, "verbalizer_base": base, "oracle": oracle}
    policies = {}  # Stage 1's starting point per kind
    for kind in cfg.kinds:
        warm = cfg.verbalizer_sft and TRAINABLE[kind].sft
        policies[kind] = sft_step(ctx, kind, base) if warm else base
        if warm:
            sft = system_id("sft", kind)
            models[sft] = policies[kind]
            ev(sft, frozen, {"model": policies[kind]})
        stage1 = system_id("stage1", kind)
        models[stage1] = stage1_step(ctx, stage1, kind, policies[kind], oracle)
        ev(stage1, frozen, {"model": models[stage1]})
    main_kind = stage2_kind(cfg)
    start = models[system_id("stage1", main_kind)]
    for ablation, reward in ABLATION_REWARDS.items():
        if ablation in cfg.ablations:  # same start and budget as the main run, one change each
            name = system_id("stage1", ablation)
            models[name] = stage1_step(ctx, name, main_kind, policies[main_kind], oracle, **reward)
            ev(name, frozen, {"model": models[name]})
    models[STAGE2_VERBALIZED] = stage2_step(ctx, STAGE2_VERBALIZED, reasoner, start)
    ev(STAGE2_VERBALIZED, {**frozen, "model": models[STAGE2_VERBALIZED]}, {"model": start})
    if "raw-reasoner" in cfg.ablations:
        models[STAGE2_RAW] = stage2_step(ctx, STAGE2_RAW, reasoner, TEMPLATE)
        ev(STAGE2_RAW, {**frozen, "model": models[STAGE2_RAW]}, {"name": TEMPLATE})
    return evals, texts, models


def write_report(doc: dict, root: Path, log=print) -> None:
    from ..report import build_report
    html, md = build_report(doc, root)
    log(f"wrote {html} and {md}")
