"""A llama-architecture HF folder as one GGUF file (what llama.cpp, Ollama and LM Studio load).

Written with the ``gguf`` library's ``GGUFWriter``: the model's hyper-parameters under llama.cpp's
``llama.*`` keys, the byte-level BPE tokenizer (tokens, token types, merges, special ids, chat template)
under ``tokenizer.ggml.*``, and the weights under llama.cpp's tensor names (``gguf.get_tensor_name_map``).

Two details decide whether llama.cpp reads the file correctly:

- **Rotary layout.** HF llama checkpoints order each attention head's Q and K rows as two halves
  (rotate-half RoPE); llama.cpp rotates interleaved pairs. The Q and K projections are therefore
  re-ordered per head, row ``h·d + 2i + j`` taking HF row ``h·d + j·d/2 + i`` (K with the K/V head count);
  loaders (llama.cpp implicitly, transformers' GGUF reader explicitly) undo it.
- **Pre-tokenizer.** llama.cpp picks its text-splitting rule by ``tokenizer.ggml.pre``; it is read from the
  tokenizer's own pipeline: plain byte-level → ``gpt-2``; digits split one by one, then byte-level → ``smollm``.

Norm weights stay float32 (as llama.cpp's converter keeps them); matrices are stored as float32, float16 or
Q8_0 (blocks of 32 int8 values with one float16 scale; a matrix whose rows are not a multiple of 32 falls
back to float16).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

QUANTIZE = ("f32", "f16", "q8_0")


def permute_rotary(w, n_head: int):
    """Re-order the rows of a Q or K projection from HF's rotate-half layout to llama.cpp's interleaved one.

    Args:
        w: the weight, (n_head · head_dim, hidden) (or a bias, (n_head · head_dim,)), numpy.
        n_head: heads in this projection (the K/V head count for K).

    Returns:
        The re-ordered weight, same shape.
    """
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])  # (h, half, d/2, ...)
            .swapaxes(1, 2)  # (h, d/2, half, ...): pair i of each head = (first-half i, second-half i)
            .reshape(w.shape))


def pre_tokenizer_name(tokenizer_json: dict) -> str:
    """llama.cpp's ``tokenizer.ggml.pre`` for a byte-level BPE tokenizer, read from its pre-tokenizer pipeline.

    Args:
        tokenizer_json: the parsed tokenizer.json.

    Returns:
        "gpt-2" (byte-level with its own GPT-2 regex; llama.cpp refuses "gpt2") or "smollm" (single digits,
        then byte-level).

    Raises:
        ValueError: a model that is not BPE, or a pre-tokenizer llama.cpp has no matching rule for here.
    """
    if (tokenizer_json.get("model") or {}).get("type") != "BPE":
        raise ValueError("only byte-level BPE tokenizers are exported (tokenizer.json's model is not BPE).")
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    raise ValueError(f"pre-tokenizer {kinds} has no llama.cpp rule here (byte-level, optionally after single "
                     f"digits, is supported).")


def tokenizer_fields(folder: Path, vocab_size: int) -> dict:
    """The tokenizer as llama.cpp stores a gpt2-style vocabulary.

    Args:
        folder: the HF folder (tokenizer.json, tokenizer_config.json).
        vocab_size: rows of the embedding; ids the tokenizer does not use become unused padding tokens.

    Returns:
        {"tokens", "types", "merges", "pre", "bos", "eos", "unk", "pad", "chat_template"} (ids may be None).
    """
    from gguf import TokenType
    from transformers import AutoTokenizer

    tj = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(folder)
    vocab = tok.get_vocab()  # token → id, added tokens included
    added = {a["content"]: a for a in tj.get("added_tokens", [])}
    by_id = {i: t for t, i in vocab.items()}
    tokens, types = [], []
    for i in range(vocab_size):
        t = by_id.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
        elif t in added:
            tokens.append(t)
            types.append(TokenType.CONTROL if added[t].get("special") else TokenType.USER_DEFINED)
        else:
            tokens.append(t)
            types.append(TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"].get("merges", [])]
    template = getattr(tok, "chat_template", None)
    return {"tokens": tokens, "types": types, "merges": merges, "pre": pre_tokenizer_name(tj),
            "bos": tok.bos_token_id, "eos": tok.eos_token_id, "unk": tok.unk_token_id,
            "pad": tok.pad_token_id, "chat_template": template if isinstance(template, str) else None}


def _store(name: str, w, quantize: str):
    """The array to write and its GGML type: 1-D tensors in float32, matrices as ``quantize`` says."""
    import numpy as np
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import quantize as ggml_quantize

    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.ndim == 1 or quantize == "f32":
        return w, Q.F32
    if quantize == "q8_0" and w.shape[-1] % 32 == 0:
        return ggml_quantize(w, Q.Q8_0), Q.Q8_0
    return w.astype(np.float16), Q.F16


def export_gguf(model: str | Path, out: str | Path, quantize: str = "f16") -> dict:
    """Write the llama-architecture HF folder ``model`` as a GGUF file.

    Args:
        model: an HF folder of a ``LlamaForCausalLM`` with a byte-level BPE tokenizer.json.
        out: the .gguf file to write (its folder is created; written under a temporary name, then renamed).
        quantize: "f32", "f16" or "q8_0" for the matrices (norms stay float32).

    Returns:
        {"tensors", "parameters", "bytes", "quantize", "pre_tokenizer", "types" (GGML type → tensors)}.

    Raises:
        ValueError: another architecture, tokenizer or ``quantize``.
    """
    import gguf
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig

    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {QUANTIZE}, got {quantize!r}.")
    folder, out = Path(model), Path(out)
    cfg = AutoConfig.from_pretrained(folder)
    if cfg.model_type != "llama":
        raise ValueError(f"{folder}: model_type {cfg.model_type!r}; only llama-architecture models are exported.")
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise ValueError(f"{folder}: RoPE scaling {rope.get('rope_type')!r} is not exported.")
    theta = float(rope.get("rope_theta") or getattr(cfg, "rope_theta", 10000.0))
    tokf = tokenizer_fields(folder, cfg.vocab_size)

    state: dict[str, torch.Tensor] = {}
    for f in sorted(folder.glob("*.safetensors")):
        state |= load_file(f)
    if not state:
        raise ValueError(f"{folder}: no .safetensors weights.")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    ftype = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
             "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[quantize]

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_name(folder.name)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(ftype)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(tokf["pre"])
    w.add_token_list(tokf["tokens"])
    w.add_token_types(tokf["types"])
    w.add_token_merges(tokf["merges"])
    for key, add in (("bos", w.add_bos_token_id), ("eos", w.add_eos_token_id), ("unk", w.add_unk_token_id),
                     ("pad", w.add_pad_token_id)):
        if tokf[key] is not None:
            add(tokf[key])
    w.add_add_bos_token(False)  # the chat template writes any BOS it wants, as distill's engine assumes
    if tokf["chat_template"]:
        w.add_chat_template(tokf["chat_template"])

    types: dict[str, int] = {}
    params = 0
    tied = cfg.tie_word_embeddings or "lm_head.weight" not in state
    for hf_name in sorted(state):
        if hf_name == "lm_head.weight" and tied:
            continue  # tied: llama.cpp uses token_embd for the output when output.weight is absent
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ValueError(f"{folder}: no GGUF name for tensor {hf_name!r}.")
        t = state[hf_name].float().numpy()
        if hf_name.endswith("self_attn.q_proj.weight"):
            t = permute_rotary(t, n_head)
        elif hf_name.endswith("self_attn.k_proj.weight"):
            t = permute_rotary(t, n_kv)
        data, qtype = _store(hf_name, t, quantize)
        w.add_tensor(name, data, raw_dtype=qtype)  # Q8_0: the writer reads the shape from the block bytes
        types[qtype.name] = types.get(qtype.name, 0) + 1
        params += t.size
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(out)
    log.info("exported %s → %s (%s, %d tensors, %.1f MB)", folder, out, quantize, sum(types.values()),
             out.stat().st_size / 1e6)
    return {"tensors": sum(types.values()), "parameters": params, "bytes": out.stat().st_size, "quantize": quantize,
            "pre_tokenizer": tokf["pre"], "types": types}
