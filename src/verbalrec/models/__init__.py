"""Language models for verbalrec: small in-project Qwen3-architecture models with their own
byte-level BPE tokenizer (``build_and_save``), and loading of any transformers causal LM, PEFT
adapter or GGUF file (``load_causal_lm``). Heavy libraries are imported only when called.
Model terms: MODELS.md beside this file.
"""

from verbalrec.models.build import (DEFAULT_VOCAB, PARAM_RANGES, PROVENANCE_FILE, SIZES,
                                    build_and_save, build_model, n_params, size_config)
from verbalrec.models.load import cache_dir, gemma_gguf_path, load_causal_lm
from verbalrec.models.tokenizer import SPECIAL_TOKENS, corpus_sha256, train_tokenizer

__all__ = [
    "DEFAULT_VOCAB", "PARAM_RANGES", "PROVENANCE_FILE", "SIZES", "SPECIAL_TOKENS",
    "build_and_save", "build_model", "cache_dir", "corpus_sha256", "gemma_gguf_path",
    "load_causal_lm", "n_params", "size_config", "train_tokenizer",
]
