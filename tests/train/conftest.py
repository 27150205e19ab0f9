import pytest


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny task folder and one tiny untrained model (policy and oracle alike), built once per module."""
    from helpers import tiny_catalog, tiny_events
    from verbalrec.logs.schema import EventLog, validate_catalog, validate_events
    from verbalrec.models import build_and_save
    from verbalrec.tasks import build_tasks, load_tasks, preset, save_tasks
    from verbalrec.verbalize import action, llm
    from verbalrec.verbalize.template import TemplateVerbalizer
    cat = validate_catalog(tiny_catalog())
    log = EventLog(validate_events(tiny_events(), catalog=cat), cat, name="tiny")
    root = tmp_path_factory.mktemp("train")
    save_tasks(build_tasks(log, preset("paper", n_candidates=3, train_tasks_per_user=0), progress=False), root / "tasks")
    tasks = load_tasks(root / "tasks")
    texts = TemplateVerbalizer(tasks.catalog).verbalize(tasks.tasks()) + [llm.REWRITE_INSTRUCTION, action.ACTION_INSTRUCTION]
    return {"root": root, "tasks": str(root / "tasks"), "taskset": tasks,
            "model": str(build_and_save(texts * 3, root / "tiny", "tiny"))}
