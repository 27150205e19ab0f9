"""Train a small byte-level BPE tokenizer for in-project models.

Byte-level BPE means every string (any script, emoji, control characters) encodes and decodes back
exactly, so no catalog title is ever lost to ``<unk>``. Training is deterministic for the same texts
and settings, so the same corpus gives the same vocabulary on every run.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Iterator

from verbalrec.errors import InputError

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
_N_BYTES = 256  # the byte alphabet every byte-level vocabulary starts with


def corpus_sha256(texts: Iterable[str]) -> str:
    """SHA-256 of a text sequence: each text as an 8-byte length then its UTF-8 bytes, so that
    ``["ab", "c"]`` and ``["a", "bc"]`` differ. Used to record a model's training corpus."""
    h = hashlib.sha256()
    for t in texts:
        _update(h, t)
    return h.hexdigest()


def _update(h, text: str) -> None:
    b = text.encode("utf-8")
    h.update(len(b).to_bytes(8, "little"))
    h.update(b)


def _checked(texts: Iterable[str], seen: list[int]) -> Iterator[str]:
    for t in texts:
        if not isinstance(t, str):
            raise InputError(f"training texts must be strings, got {type(t).__name__}",
                             fix="pass an iterable of str")
        seen[0] += 1
        yield t


def train_tokenizer(texts: Iterable[str], vocab_size: int,
                    special_tokens: Iterable[str] = SPECIAL_TOKENS, *, min_frequency: int = 2,
                    model_max_length: int = 2048, phrases: Iterable[str] = ()):
    """Train a byte-level BPE tokenizer on ``texts``; return a ``PreTrainedTokenizerFast``.

    ``special_tokens`` must hold ``<pad>``, ``<s>``, ``</s>`` and ``<unk>`` (they get ids 0-3 in the
    default order); extra ones follow. No special token is added automatically when encoding: callers
    add ``tokenizer.eos_token`` between documents themselves. ``len(tokenizer)`` may be below
    ``vocab_size`` when the corpus has too few distinct pairs to merge.

    ``phrases`` (e.g. the catalog's titles) become one token each, on top of ``vocab_size``: a
    title then costs one position in any wording of a history, and its likelihood is one softmax
    over the items, as in an ID-based sequential recommender. A phrase matches only as whole
    words; the longest phrase wins where several overlap.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys(special_tokens))
    missing = [t for t in SPECIAL_TOKENS if t not in specials]
    if missing:
        raise InputError(f"special_tokens lacks {missing}", fix=f"include all of {list(SPECIAL_TOKENS)}")
    if vocab_size < _N_BYTES + len(specials):
        raise InputError(f"vocab_size {vocab_size} is below the {_N_BYTES} byte symbols + "
                         f"{len(specials)} special tokens", fix=f"use vocab_size >= {_N_BYTES + len(specials)}")

    tok = Tokenizer(models.BPE(unk_token=UNK))
    # add_prefix_space=False keeps decode(encode(s)) == s exactly (no invented leading space).
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    seen = [0]
    tok.train_from_iterator(_checked(texts, seen), trainer=trainer)
    if seen[0] == 0:
        raise InputError("no training texts were given", fix="pass at least one non-empty text")
    from tokenizers import AddedToken
    tok.add_tokens([AddedToken(p, single_word=True, normalized=False)
                    for p in sorted(set(phrases)) if p.strip()])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK,
        additional_special_tokens=[t for t in specials if t not in SPECIAL_TOKENS] or None,
        clean_up_tokenization_spaces=False,  # cleanup would rewrite " ." etc.: breaks round trips
        model_max_length=model_max_length)
