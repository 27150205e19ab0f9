"""Small Qwen3-architecture causal LMs built in-project, for CPU runs and tests.

Real runs use pretrained models (``load.load_causal_lm``); on a CPU-only machine the Verbalizer and
Reasoner are these small models with their own tokenizer, warm-started as plain language models on
the domain's text. Sizes (params at the default vocabulary, tied embeddings):

======  ======  ======  ============  =====  ========  =====  ===============
size    layers  hidden  intermediate  heads  kv heads  vocab  params
======  ======  ======  ============  =====  ========  =====  ===============
tiny    2       64      256           2      1         512    ~0.16M (0.1-0.3M)
mini    2       96      384           3      1         512    ~0.32M (0.25-0.45M; lr 1.5e-3: docs/reasoner.md)
small   4       128     384           4      2         6000   ~1.56M (1.4-2.0M)
base    6       256     768           8      4         6000   ~6.3M  (5-7.5M)
medium  10      640     1792          10     5         8000   ~52M   (40-65M; the GPU smoke check)
======  ======  ======  ============  =====  ========  =====  ===============
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from verbalrec.atomic import write_json
from verbalrec.errors import InputError
from verbalrec.models.tokenizer import corpus_sha256, train_tokenizer

SIZES: dict[str, dict] = {
    "tiny": dict(num_hidden_layers=2, hidden_size=64, intermediate_size=256,
                 num_attention_heads=2, num_key_value_heads=1, head_dim=32),
    "mini": dict(num_hidden_layers=2, hidden_size=96, intermediate_size=384,
                 num_attention_heads=3, num_key_value_heads=1, head_dim=32),
    "small": dict(num_hidden_layers=4, hidden_size=128, intermediate_size=384,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=32),
    "base": dict(num_hidden_layers=6, hidden_size=256, intermediate_size=768,
                 num_attention_heads=8, num_key_value_heads=4, head_dim=32),
    "medium": dict(num_hidden_layers=10, hidden_size=640, intermediate_size=1792,
                   num_attention_heads=10, num_key_value_heads=5, head_dim=64),
}
DEFAULT_VOCAB: dict[str, int] = {"tiny": 512, "mini": 512, "small": 6000, "base": 6000, "medium": 8000}
# Documented parameter ranges at DEFAULT_VOCAB (checked by the tests).
PARAM_RANGES: dict[str, tuple[float, float]] = {
    "tiny": (0.1e6, 0.3e6), "mini": (0.25e6, 0.45e6), "small": (1.4e6, 2.0e6), "base": (5e6, 7.5e6), "medium": (40e6, 65e6)}
PROVENANCE_FILE = "verbalrec_model.json"


def _size(size: str) -> dict:
    if size not in SIZES:
        raise InputError(f"unknown model size '{size}'", fix=f"use one of {sorted(SIZES)}")
    return SIZES[size]


def size_config(size: str, vocab_size: int, max_position: int = 2048, *,
                pad_token_id=None, bos_token_id=None, eos_token_id=None):
    """The ``Qwen3Config`` of a named size for a vocabulary of ``vocab_size`` tokens."""
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=vocab_size, max_position_embeddings=max_position,
                       tie_word_embeddings=True,  # at these sizes the embedding is most of the model
                       use_sliding_window=False, attention_dropout=0.0, rms_norm_eps=1e-6,
                       pad_token_id=pad_token_id, bos_token_id=bos_token_id,
                       eos_token_id=eos_token_id, **_size(size))


def build_model(size: str, tokenizer, seed: int, max_position: int = 2048):
    """A freshly initialised ``Qwen3ForCausalLM`` of ``size`` for ``tokenizer``; the same seed and
    tokenizer give the same weights. The global torch RNG state is left as it was."""
    import torch
    from transformers import Qwen3ForCausalLM

    config = size_config(size, len(tokenizer), max_position, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval()


def n_params(model) -> int:
    """Distinct parameters (tied embedding counted once)."""
    return sum(p.numel() for p in model.parameters())


def build_and_save(texts: Iterable[str], out_dir: str | os.PathLike, size: str,
                   vocab_size: int | None = None, seed: int = 0, *, max_position: int = 2048,
                   overwrite: bool = False, phrases: Iterable[str] = ()) -> Path:
    """Train a tokenizer on ``texts``, build an untrained model of ``size`` and save both in
    ``out_dir`` (loadable by ``AutoModelForCausalLM``/``AutoTokenizer.from_pretrained``; ``phrases``
    become one token each, see ``train_tokenizer``), with a
    ``verbalrec_model.json`` provenance record. The directory appears whole or not at all."""
    import tokenizers
    import torch
    import transformers

    _size(size)
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise InputError("model directory already exists", file=out,
                         fix="choose a new directory or pass overwrite=True")
    texts = list(texts)  # read twice: hashed for provenance, then streamed to the trainer
    vocab_size = vocab_size or DEFAULT_VOCAB[size]
    phrases = sorted(set(phrases))
    tokenizer = train_tokenizer(texts, vocab_size, model_max_length=max_position, phrases=phrases)
    model = build_model(size, tokenizer, seed, max_position)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / PROVENANCE_FILE, {
            "format": 1, "size": size, "params": n_params(model), "vocab_size": len(tokenizer),
            "vocab_size_requested": vocab_size, "phrase_tokens": len(phrases), "seed": seed, "max_position": max_position,
            "n_texts": len(texts), "corpus_sha256": corpus_sha256(texts),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__}})
        _swap_in(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _swap_in(tmp: Path, out: Path) -> None:
    # os.replace cannot replace a non-empty directory: move the old one aside first, and put it
    # back if the rename fails, so a reader never finds the directory missing for long or half-made.
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
