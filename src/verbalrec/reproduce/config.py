"""The reproduce run's one config: data, models, and each stage's settings, validated up front.

Each stage keeps its own validated dataclass (``WarmStartConfig``, ``VerbalizerSFTConfig``,
``Stage1Config``, ``Stage2Config``); the reproduce config only holds *overrides* of their fields
(``stage1: {max_steps: 40}``) and fills in what the pipeline decides itself (task folder, output
directory, policy, oracle, kind, reward). Overrides are checked against those dataclasses when the
config is made, so a typo in a preset fails before any minute of compute is spent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..config import check as _check
from ..config import help_meta as _h
from ..config import yaml_with_overrides
from ..errors import InputError
from ..tasks.protocol import PRESETS as PROTOCOLS
from ..reason import LM_MODES, is_endpoint
from ..verbalize import KINDS, RULE_VERBALIZERS

ABLATIONS = ("ranking", "no-length", "raw-reasoner")
BASELINES = ("random", "popularity", "itemknn", "sasrec")
#: fields the pipeline sets itself: an override of them would silently break the wiring
PIPELINE_FIELDS = {"tasks", "out", "policy", "model", "oracle", "kind", "reward", "alpha", "verbalizer",
                   "verbalizer_kind", "oracle_mode", "oracle_model", "cpu_threads", "seed", "writer",
                   "eval_split", "eval_limit", "skip_train"}


@dataclass(kw_only=True)
class ReproduceConfig:
    name: str = field(default="custom", metadata=_h("run name shown in the report"))
    out: str = field(default="runs/reproduce", metadata=_h("run directory: steps/, cache, report.json/html/md"))
    data: str = field(default="ml-100k", metadata=_h(
        "logs: ml-100k (shipped by the recbole wheel), synthetic, or a folder/file verbalrec can load"))
    synthetic: dict = field(default_factory=dict, metadata=_h("data=synthetic: SyntheticConfig fields"))
    protocol: str = field(default="paper", metadata=_h("task protocol preset: paper or llara"))
    history_len: int = field(default=0, metadata=_h("interactions per history (0 = the protocol's: 100 for paper)"))
    split: str = field(default="test", metadata=_h("split every table is measured on: test or valid"))
    eval_limit: int = field(default=200, metadata=_h("evaluate on the first N tasks of the split (0 = all)"))
    seed: int = field(default=0, metadata=_h("seed of tasks, models, sampling and bootstrap"))
    baselines: tuple[str, ...] = field(default=("random", "popularity", "itemknn"), metadata=_h(
        f"classical rankers for scale, some of {BASELINES}"))
    reasoner: str = field(default="warmstart", metadata=_h(
        "the Reasoner: 'warmstart' (an in-project model trained by the warm-start step) or a model name/path"))
    reasoner_mode: str = field(default="likelihood", metadata=_h(f"how the Reasoner scores: {LM_MODES}"))
    max_length: int = field(default=2048, metadata=_h("Reasoner prompt tokens (oldest history cut first)"))
    rule_verbalizers: tuple[str, ...] = field(default=("template", "heuristic"), metadata=_h(
        f"verbalizers without a model that the frozen Reasoner reads (the template always): some of {RULE_VERBALIZERS}"))
    verbalizer: str = field(default="reasoner", metadata=_h(
        "the Verbalizer's starting model: 'reasoner' (the same model) or a model name/path"))
    verbalizer_sft: bool = field(default=True, metadata=_h(
        "teach the verbalizer the output format by SFT on heuristic targets before Stage 1 (small models need it)"))
    verbalizer_max_new_tokens: int = field(default=256, metadata=_h("tokens per verbalization at evaluation"))
    oracle: str = field(default="reasoner", metadata=_h(
        "Stage 1's frozen oracle: 'reasoner' (the frozen Reasoner) or an http(s)://.../v1 endpoint"))
    oracle_model: str = field(default="", metadata=_h("endpoint oracle: the served model name"))
    kinds: tuple[str, ...] = field(default=KINDS, metadata=_h(f"Stage 1 verbalizer kinds to train: {KINDS}"))
    ablations: tuple[str, ...] = field(default=ABLATIONS, metadata=_h(
        f"Table 2 ablations to run: {ABLATIONS} (ranking reward, alpha=1, Stage 2 on raw template)"))
    warmstart: dict = field(default_factory=dict, metadata=_h("WarmStartConfig overrides (reasoner: warmstart)"))
    sft: dict = field(default_factory=dict, metadata=_h("VerbalizerSFTConfig overrides"))
    stage1: dict = field(default_factory=dict, metadata=_h("Stage1Config overrides"))
    stage2: dict = field(default_factory=dict, metadata=_h("Stage2Config overrides"))
    with_langptune: bool = field(default=False, metadata=_h(
        "also run LangPTune: a profile writer trained on an embedding reasoner's ranking (its own table)"))
    langptune: dict = field(default_factory=dict, metadata=_h("LangPTuneConfig overrides"))
    cpu_threads: int = field(default=1, metadata=_h("torch CPU threads (1 is fastest for small models on 2 cores)"))
    num_processes: int = field(default=1, metadata=_h(
        "processes per training step: > 1 launches each one with `accelerate launch` (data parallel; one GPU "
        "each, or gloo on CPU); evaluation and the report run once, here"))
    accelerate_config: str = field(default="", metadata=_h(
        "accelerate config YAML for the launched training steps, e.g. docs/configs/accelerate-zero3.yaml "
        "(empty: plain data parallel)"))

    def __post_init__(self):
        self.baselines, self.kinds, self.ablations, self.rule_verbalizers = (
            tuple(x.split(",")) if isinstance(x, str) else tuple(x or ())
            for x in (self.baselines, self.kinds, self.ablations, self.rule_verbalizers))
        self.rule_verbalizers = tuple(dict.fromkeys(("template",) + self.rule_verbalizers))
        _check(self.protocol in PROTOCOLS, f"unknown protocol '{self.protocol}'", "protocol", f"use one of {sorted(PROTOCOLS)}")
        _check(self.split in ("test", "valid"), f"unknown split '{self.split}'", "split", "use test or valid")
        _check(min(self.history_len, self.eval_limit, self.cpu_threads) >= 0, "must be >= 0",
               "history_len/eval_limit/cpu_threads", "use 0 or more")
        _check(self.reasoner_mode in LM_MODES, f"unknown reasoner_mode '{self.reasoner_mode}'", "reasoner_mode",
               f"use one of {LM_MODES}")
        for name, values, allowed in (("baselines", self.baselines, BASELINES), ("kinds", self.kinds, KINDS),
                                      ("ablations", self.ablations, ABLATIONS),
                                      ("rule_verbalizers", self.rule_verbalizers, RULE_VERBALIZERS)):
            bad = [v for v in values if v not in allowed]
            _check(not bad, f"unknown {name} {bad}", name, f"use some of {allowed}")
        _check(bool(self.kinds), "no verbalizer kind to train", "kinds", "use rewrite and/or action")
        _check(self.max_length >= 128 and self.verbalizer_max_new_tokens >= 16, "too small", "max_length",
               "use max_length >= 128 and verbalizer_max_new_tokens >= 16")
        _check(self.num_processes >= 1, "must be >= 1", "num_processes", "use 1 (this process) or more")
        _check(not self.accelerate_config or Path(self.accelerate_config).is_file(), "file not found",
               "accelerate_config", "give an accelerate config YAML (docs/configs/) or leave it empty")
        for name, cls in stage_configs().items():
            stage_config(self, name, cls)  # validates the overrides now

    @property
    def stage1_oracle_is_endpoint(self) -> bool:
        return is_endpoint(self.oracle)


def stage_configs() -> dict:
    from ..train.grpo_config import Stage1Config, Stage2Config
    from ..train.sft_verbalizer import VerbalizerSFTConfig
    from ..train.langptune_config import LangPTuneConfig
    from ..train.warmstart import WarmStartConfig

    return {"warmstart": WarmStartConfig, "sft": VerbalizerSFTConfig, "stage1": Stage1Config, "stage2": Stage2Config,
            "langptune": LangPTuneConfig}


def stage_config(cfg: ReproduceConfig, section: str, cls, defaults: dict | None = None, **wiring):
    """``cls`` built from the pipeline's ``defaults``, then the section's overrides, then the
    pipeline's ``wiring`` (placeholders when only validating); clear errors for unknown or
    pipeline-owned fields."""
    overrides = dict(getattr(cfg, section) or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    _check(not unknown, f"unknown field(s) {unknown}", f"{section}.{unknown[0] if unknown else ''}",
           f"use fields of {cls.__name__} (see `verbalrec train -h`)")
    owned = sorted(set(overrides) & PIPELINE_FIELDS)
    _check(not owned, f"{owned} are set by the pipeline", f"{section}.{owned[0] if owned else ''}",
           "remove them; set the top-level field (e.g. reasoner, oracle, kinds, seed) instead")
    placeholders = {"tasks": "<tasks>", "out": "<out>", "policy": "<policy>", "model": "<model>",
                    "oracle": "<oracle>", "verbalizer": "template", "writer": "<writer>"}
    kwargs = {k: v for k, v in placeholders.items() if k in names}
    if "seed" in names:
        kwargs["seed"] = cfg.seed
    if "cpu_threads" in names:
        kwargs["cpu_threads"] = cfg.cpu_threads
    kwargs.update({k: v for k, v in (defaults or {}).items() if k in names})
    kwargs.update(overrides)
    kwargs.update(wiring)
    try:
        return cls(**kwargs)
    except InputError as err:
        raise InputError(err.problem, field=f"{section}.{err.field}" if err.field else section, fix=err.fix) from None


PRESET_DIR = "presets"


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__package__).joinpath(PRESET_DIR).iterdir()
                  if p.name.endswith(".yaml"))


def load_config(preset_or_path: str, **overrides) -> ReproduceConfig:
    """A packaged preset by name (``ml100k-cpu``) or a YAML file; ``overrides`` that are not None win."""
    path = Path(preset_or_path)
    if not path.is_file() and preset_or_path in preset_names():  # a preset name wins over a same-named folder
        path = Path(str(resources.files(__package__).joinpath(PRESET_DIR, preset_or_path + ".yaml")))
    if not path.is_file():
        raise InputError(f"'{preset_or_path}' is neither a preset nor a YAML file", field="config",
                         fix=f"use one of {preset_names()} or a YAML file")
    data = yaml_with_overrides(path, **overrides)
    names = {f.name for f in dataclasses.fields(ReproduceConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"unknown field(s) {unknown}", file=path, field=unknown[0],
                         fix=f"use fields of ReproduceConfig: {sorted(names)}")
    return ReproduceConfig(**data)
