"""The ``verbalrec`` command: parse, call one function, print. Errors are one line, exit 2."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import InputError

DEFAULT_RANKERS = "random,popularity,itemknn,sasrec"


def _log_args(p: argparse.ArgumentParser, source_required: bool = False) -> None:
    p.add_argument("source", nargs=None if source_required else "?", default=None,
                   help="'ml-100k', a folder (saved log, RecBole atomic, MovieLens raw) or an events file")
    g = p.add_argument_group("your own logs (CSV / TSV / Parquet / JSONL)")
    g.add_argument("--config", help="YAML file with the fields below (events, catalog, map, ...)")
    g.add_argument("--catalog", help="item catalog file")
    g.add_argument("--map", help="our=theirs event columns, e.g. user_id=uid,item_id=sku,timestamp=ts")
    g.add_argument("--catalog-map", help="our=theirs catalog columns, e.g. title=name,genres=cats")
    g.add_argument("--timestamp-unit", help="s, ms, us, ns or iso (default s)")
    g.add_argument("--timestamp-format", help="strftime format of date strings")
    g.add_argument("--encoding", help="text encoding (default utf-8)")
    g.add_argument("--dedupe", action="store_true", default=None, help="drop duplicate events")
    g.add_argument("--drop-unknown-items", action="store_true", default=None, help="drop events not in the catalog")


def _load_log(args):
    from .config import parse_map, read_yaml
    from .logs import TabularSpec, load_log

    spec_fields = read_yaml(args.config) if args.config else {}
    flags = {"catalog": args.catalog, "timestamp_unit": args.timestamp_unit, "encoding": args.encoding,
             "timestamp_format": args.timestamp_format, "dedupe": args.dedupe,
             "drop_unknown_items": args.drop_unknown_items,
             "map": parse_map(args.map, "--map") or None, "catalog_map": parse_map(args.catalog_map, "--catalog-map") or None}
    spec_fields.update({k: v for k, v in flags.items() if v is not None})
    if spec_fields:
        spec_fields.setdefault("events", args.source)
        if not spec_fields.get("events"):
            raise InputError("no events file given", field="events", fix="pass the events file or set events: in --config")
        try:
            spec = TabularSpec(**spec_fields)
        except TypeError as err:
            raise InputError(f"bad config field ({err})", file=args.config, fix="see `verbalrec data describe -h`") from None
        return load_log(spec.events, spec)
    if not args.source:
        raise InputError("no logs given", field="source", fix="pass ml-100k, a folder or an events file")
    return load_log(args.source)


def cmd_data(args) -> None:
    from .logs import save_log
    if args.data_cmd == "synth":
        from .config import given
        from .logs.synthetic import SyntheticConfig, generate, write_truth
        log, truth = generate(SyntheticConfig(**given(args, SyntheticConfig)))
        save_log(log, args.out)
        write_truth(truth, Path(args.out) / "truth.json")
        print(json.dumps(log.describe(), indent=2))
        print(f"wrote {args.out}")
        return
    log = _load_log(args)
    if args.data_cmd == "convert":
        save_log(log, args.out)
        print(f"wrote {args.out}")
    print(json.dumps(log.describe(), indent=2))


def build_and_save_tasks(log, protocol, out: str, quiet: bool = False):
    from .tasks import build_tasks, save_tasks
    t0 = time.perf_counter()
    tasks = build_tasks(log, protocol, progress=not quiet)
    save_tasks(tasks, out)
    print(f"{len(tasks)} tasks {tasks.meta['counts']} from {log.name} ({len(log.events)} events) "
          f"in {time.perf_counter() - t0:.1f}s, leakage check passed -> {out}")
    return tasks


def cmd_verbalize(args) -> None:
    from .atomic import write_text
    from .tasks import load_tasks
    tasks = load_tasks(args.tasks).split(args.split).head(args.limit)
    from .evaluate.run import make_cached_verbalizer
    verbalizer = make_cached_verbalizer(args.verbalizer, tasks.catalog, args.verbalizer_model, args.cache)
    texts = verbalizer.verbalize(tasks.tasks())
    if args.out:
        lines = [json.dumps({"task_id": t.task_id, "verbalizer": verbalizer.name, "text": x})
                 for t, x in zip(tasks.tasks(), texts)]
        write_text(args.out, "\n".join(lines) + "\n")
        print(f"wrote {len(texts)} verbalizations to {args.out}")
    else:
        for t, x in zip(tasks.tasks(), texts):
            print(f"# task {t.task_id} (target {t.target_item}, discovery={t.discovery})\n{x}\n")


def cmd_eval(args) -> None:
    from .atomic import write_json
    from .evaluate.run import default_baseline, planned_systems, run_eval
    from .evaluate.table import print_table
    from .tasks import load_tasks
    rankers, verbalizers = args.rankers.split(","), args.verbalizers.split(",")
    baseline = args.baseline or default_baseline(planned_systems(rankers, verbalizers))
    tasks = load_tasks(args.tasks)
    doc = run_eval(tasks, rankers, verbalizers, args.split, baseline,
                   args.seed, args.model, args.max_length, args.limit, not args.quiet,
                   args.verbalizer_model, args.cache)
    print_table(doc, title=f"{args.tasks} — {args.split} split")
    if args.out:
        write_json(args.out, doc)
        print(f"wrote {args.out}")


def _parquet_source(args) -> bool:
    """A Parquet file, a saved log or a folder of Parquet files, with no loader options: the
    engines read it themselves (only the needed columns, no pandas)."""
    from .tasks.source import is_parquet_log
    flags = (args.config, args.catalog, args.map, args.catalog_map, args.timestamp_unit, args.timestamp_format,
             args.encoding, args.dedupe, args.drop_unknown_items)
    return bool(args.source) and all(f is None for f in flags) and is_parquet_log(args.source)


def cmd_tasks(args) -> None:
    if args.tasks_cmd == "build":
        from .config import given
        from .tasks import TaskProtocol, preset
        protocol = preset(args.preset, **given(args, TaskProtocol))
        if args.engine == "columnar" and not _parquet_source(args):
            build_and_save_tasks(_load_log(args), protocol, args.out, args.quiet)
            return
        from .tasks.build import build_to_folder, small_pages
        small_pages()
        t0 = time.perf_counter()
        source = args.source if _parquet_source(args) else _load_log(args)
        m = build_to_folder(source, protocol, args.out, engine=args.engine)
        print(f"{m['n_tasks']} tasks {m['counts']} from {m['log']} ({m['events']} events) in "
              f"{time.perf_counter() - t0:.1f}s [{args.engine}], leakage check passed -> {args.out}")
    else:
        from .tasks import load_tasks
        tasks = load_tasks(args.tasks)
        print(json.dumps({**tasks.meta, "n_tasks": len(tasks), "n_candidates": tasks.n_candidates}, indent=2))


def _train_stages():
    """verbalrec train <stage>: (config class, run function) per stage."""
    from .train.grpo_config import Stage1Config, Stage2Config
    from .train.sft_verbalizer import VerbalizerSFTConfig, sft_verbalizer
    from .train.stage1 import train_verbalizer
    from .train.stage2 import train_reasoner
    from .train.warmstart import WarmStartConfig, warm_start
    return {"warmstart": (WarmStartConfig, warm_start, "dense LM warm start of a small in-project model (TRL SFTTrainer)"),
            "sft-verbalizer": (VerbalizerSFTConfig, sft_verbalizer, "warm start of the Verbalizer on heuristic targets"),
            "verbalizer": (Stage1Config, train_verbalizer, "Stage 1: GRPO on the Verbalizer, oracle-rewarded"),
            "reasoner": (Stage2Config, train_reasoner, "Stage 2: GRPO on the Reasoner over a frozen Verbalizer")}


def cmd_train(args) -> None:
    from .config import given, read_yaml
    cls, run, _ = _train_stages()[args.train_cmd]
    fields = {**(read_yaml(args.config) if args.config else {}), **given(args, cls)}
    try:
        cfg = cls(**fields)
    except TypeError as err:
        raise InputError(f"bad or missing config field ({err})", field="config",
                         fix=f"see `verbalrec train {args.train_cmd} -h`") from None
    t0 = time.perf_counter()
    out = run(cfg, resume=args.resume)
    from .train.distributed import is_main_process
    if is_main_process():  # under accelerate launch: one line, not one per process
        print(f"wrote {out} in {time.perf_counter() - t0:.0f}s")


def cmd_langptune(args) -> None:
    """Train the LangPTune profile writer, then the comparison table under one embedding reasoner."""
    from .config import given, read_yaml
    from .train.langptune import run_langptune
    from .train.langptune_config import RESULTS, LangPTuneConfig
    from .train.langptune_eval import print_langptune
    fields = {**(read_yaml(args.config) if args.config else {}), **given(args, LangPTuneConfig)}
    try:
        cfg = LangPTuneConfig(**fields)
    except TypeError as err:
        raise InputError(f"bad or missing config field ({err})", field="config", fix="see `verbalrec langptune -h`") from None
    t0 = time.perf_counter()
    doc = run_langptune(cfg, resume=args.resume)
    if not doc:  # a non-main process under accelerate launch: the main one evaluates and prints
        return
    print_langptune(doc)
    for ex in doc["examples"]:
        print(f"\n# user {ex['user_id']} (next: {ex['target']})\nbefore: {ex['before']!r}\nafter:  {ex['after']!r}")
    print(f"wrote {Path(cfg.out) / RESULTS} in {time.perf_counter() - t0:.0f}s")


def cmd_demo(args) -> None:
    """The main job on the embedded default: ml-100k -> paper tasks -> baselines -> table."""
    from .atomic import write_json
    from .evaluate.run import run_eval
    from .evaluate.table import print_table
    from .verbalize.template import TemplateVerbalizer
    from .logs import load_log
    from .tasks import preset
    t0 = time.perf_counter()
    out = Path(args.out)
    tasks = build_and_save_tasks(load_log(args.source), preset(args.preset), str(out / "tasks"), args.quiet)
    example = tasks.split("test").head(1).tasks()[0]
    print("\nTemplate verbalization of a test history (last 5 of", len(example.hist_item), "lines):")
    print("\n".join(TemplateVerbalizer(tasks.catalog).verbalize([example])[0].splitlines()[-5:]), "\n")
    doc = run_eval(tasks, args.rankers.split(","), ["template"], "test", "random", args.seed, progress=not args.quiet)
    print_table(doc, title=f"{tasks.meta['log']} · preset {args.preset} · test split")
    write_json(out / "results.json", doc)
    print(f"wrote {out / 'results.json'} · total {time.perf_counter() - t0:.0f}s")


def cmd_reproduce(args) -> None:
    """The paper end to end (cached steps) -> report.json, report.html, report.md."""
    from .config import given
    from .evaluate.table import print_table
    from .reproduce import ReproduceConfig, load_config, run_reproduce
    cfg = load_config(args.config, **given(args, ReproduceConfig))
    doc = run_reproduce(cfg, command=" ".join(["verbalrec"] + sys.argv[1:]))
    for key, title in (("baselines", "classical baselines"), ("table1", "Table 1 analogue"),
                       ("table2", "Table 2 analogue (ablations)")):
        rows = [{**r, "system": r["label"]} for r in doc[key]]
        print_table({"results": rows}, title=f"{cfg.name} · {title} · Δ% vs template · {doc['meta']['n_tasks']} {cfg.split} tasks")
    if doc.get("langptune"):
        rows = [{**r, "system": r["label"]} for r in doc["langptune"]["rows"]]
        print_table({"results": rows}, title=f"{cfg.name} · LangPTune (MiniLM embedding reasoner) · Δ% vs template")
    for note in doc["meta"]["notes"]:
        print("-", note)
    print(f"total {doc['meta']['wall_s']:.0f}s ({sum(s['cached'] for s in doc['meta']['steps'])} of "
          f"{len(doc['meta']['steps'])} steps from the cache) -> {cfg.out}")

def cmd_report(args) -> None:
    from .report import build_report, load_report_doc
    doc, path = load_report_doc(args.run)
    html_path, md_path = build_report(doc, args.out or path.parent)
    print(f"wrote {html_path} and {md_path}")


def build_parser() -> argparse.ArgumentParser:
    from .config import add_fields
    from .tasks import TaskProtocol
    parser = argparse.ArgumentParser(prog="verbalrec", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    data = sub.add_parser("data", help="load, convert, describe logs; generate synthetic logs")
    dsub = data.add_subparsers(dest="data_cmd", required=True)
    _log_args(dsub.add_parser("describe", help="validate logs and print a summary"))
    conv = dsub.add_parser("convert", help="validate logs and save them as a verbalrec log folder")
    _log_args(conv)
    conv.add_argument("--out", required=True)
    synth = dsub.add_parser("synth", help="generate synthetic streaming logs")
    synth.add_argument("--out", required=True)
    from .logs.synthetic import SyntheticConfig
    add_fields(synth, SyntheticConfig)

    tasks = sub.add_parser("tasks", help="build or describe reranking tasks")
    tsub = tasks.add_subparsers(dest="tasks_cmd", required=True)
    build = tsub.add_parser("build", help="logs -> task folder (Parquet), with the leakage check")
    _log_args(build)
    build.add_argument("--preset", default="paper", help="paper (H=100, N=10) or llara (H=10, N=20)")
    build.add_argument("--out", required=True, help="task folder to write")
    build.add_argument("--quiet", action="store_true")
    build.add_argument("--engine", default="columnar", choices=("columnar", "spark"),
                       help="columnar: this process (pyarrow + numpy); spark: PySpark (local mode, or any "
                            "cluster through spark-submit / SPARK_REMOTE); both write the same task files")
    add_fields(build, TaskProtocol, exclude=("name",))
    desc = tsub.add_parser("describe", help="print a task folder's manifest")
    desc.add_argument("tasks")

    verb = sub.add_parser("verbalize", help="print or write verbalizations of tasks")
    verb.add_argument("tasks", help="task folder or task Parquet file")
    verb.add_argument("--verbalizer", default="template",
                      help="template, template+meta, heuristic, or with --verbalizer-model: zero-shot, rewrite, action")
    verb.add_argument("--verbalizer-model", help="causal LM directory (or gemma3-270m) for LM verbalizers")
    verb.add_argument("--cache", default="runs/cache/verbalizations.sqlite", help="verbalization cache (sqlite)")
    verb.add_argument("--split", default="test")
    verb.add_argument("--limit", type=int, default=3)
    verb.add_argument("--out", help="write JSON lines here instead of printing")

    ev = sub.add_parser("eval", help="tasks x verbalizer x rankers -> metrics table + JSON")
    ev.add_argument("tasks", help="task folder or task Parquet file")
    ev.add_argument("--rankers", default=DEFAULT_RANKERS,
                    help=f"comma-separated: {DEFAULT_RANKERS} and the LLM reasoners label,likelihood,generative")
    ev.add_argument("--verbalizers", default="template",
                    help="comma-separated, for LLM reasoners: template, template+meta, heuristic, zero-shot, rewrite, action")
    ev.add_argument("--model", help="causal LM (local dir or name) for the label/likelihood/generative reasoners")
    ev.add_argument("--verbalizer-model", help="causal LM for the zero-shot / rewrite / action verbalizers")
    ev.add_argument("--cache", default="runs/cache/verbalizations.sqlite", help="verbalization cache (sqlite)")
    ev.add_argument("--max-length", type=int, default=2048, help="prompt token budget; oldest history cut first")
    ev.add_argument("--split", default="test")
    ev.add_argument("--baseline", help="Δ%% is reported relative to this system (default: random when it is "
                    "scored, else the first system), e.g. popularity or template/likelihood")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--limit", type=int, default=0, help="score only the first N tasks of the split (0 = all)")
    ev.add_argument("--out", help="write the results JSON here")
    ev.add_argument("--quiet", action="store_true")

    train = sub.add_parser("train", help="warm start, Stage 1 (verbalizer GRPO), Stage 2 (reasoner GRPO)")
    trsub = train.add_subparsers(dest="train_cmd", required=True)
    for stage, (cls, _, help_text) in _train_stages().items():
        p = trsub.add_parser(stage, help=help_text)
        p.add_argument("--config", help="YAML with the fields below (flags override it)")
        p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
        add_fields(p, cls)

    lpt = sub.add_parser("langptune", help="LangPTune: GRPO profile writer on an embedding recommender, + comparison")
    lpt.add_argument("--config", help="YAML with the fields below (flags override it)")
    lpt.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    from .train.langptune_config import LangPTuneConfig
    add_fields(lpt, LangPTuneConfig, exclude=("policy",))

    demo = sub.add_parser("demo", help="the main job: ml-100k, paper tasks, every baseline")
    demo.add_argument("source", nargs="?", default="ml-100k")
    demo.add_argument("--preset", default="paper")
    demo.add_argument("--rankers", default=DEFAULT_RANKERS)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--quiet", action="store_true")
    rep = sub.add_parser("reproduce", help="the paper end to end: every stage, Tables 1-2 analogues, HTML report",
                         description="Runs the --config preset or YAML; each flag below overrides that field. The "
                         "defaults shown are ReproduceConfig's own; a preset sets most fields (see "
                         "src/verbalrec/reproduce/presets/). Stage budgets are YAML sections (warmstart, sft, "
                         "stage1, stage2, langptune).")
    rep.add_argument("--config", default="ml100k-cpu",
                     help="a preset (ml100k-cpu, synthetic-cpu, gpu) or a YAML file of ReproduceConfig fields")
    from .reproduce.config import ReproduceConfig
    add_fields(rep, ReproduceConfig)

    report = sub.add_parser("report", help="rebuild report.html and report.md from a run's report.json")
    report.add_argument("run", metavar="RUN_DIR_OR_JSON", help="run folder holding report.json, or the JSON file")
    report.add_argument("--out", help="folder to write the report into (default: beside report.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"data": cmd_data, "tasks": cmd_tasks, "verbalize": cmd_verbalize, "eval": cmd_eval,
               "train": cmd_train, "demo": cmd_demo, "reproduce": cmd_reproduce, "report": cmd_report,
               "langptune": cmd_langptune}[args.cmd]
    try:
        handler(args)
    except InputError as err:
        print(f"verbalrec: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verbalrec: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
