"""Structured pruning by importance (Minitron: Muralidharan et al. 2024, "Compact Language Models via
Pruning and Knowledge Distillation").

One forward pass of the teacher over a small calibration corpus, with hooks, scores every
structure that can be removed:

  MLP channels     the input of ``down_proj`` (activation · up), per channel
  attention heads  the input of ``o_proj`` (each head's output), per head; under GQA a KV group
                   scores the sum of its query heads and is removed whole, with them
  hidden channels  the outputs of every RMSNorm (the inputs of all attention and MLP blocks), per channel
  layers (depth)   block importance, 1 − cos(h_in, h_out) of the hidden state across the block
                   (ShortGPT's and Minitron's cheap depth metric): a block that barely turns the
                   residual stream is the one to drop

Activations are aggregated as Minitron found best: the mean magnitude over a window's positions,
then the L2 norm over windows. Width is pruned uniformly (every layer keeps the same number of MLP
channels and KV groups: HF configs hold one size), each layer keeping its own most important
ones. Removing channels copies weights, nothing is re-fitted: healing is `distill lm train`.
At 0 % pruned the student reproduces the teacher's logits exactly.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)

# decoder architectures whose weights follow the Llama layout (q/k/v/o, gate/up/down, two RMSNorms per layer)
SUPPORTED = ("llama", "mistral", "qwen2", "qwen3")
_LAYER_KEY = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_PER_LAYER_CONFIG = ("layer_types", "sliding_window_pattern_list", "no_rope_layers")


@dataclass
class Importance:
    """Importance scores of a model's prunable structures (higher: more important).

    Attributes:
        mlp: per layer, float tensor (intermediate_size,).
        heads: per layer, float tensor (num_attention_heads,).
        hidden: float tensor (hidden_size,), summed over every norm's output.
        layers: float tensor (num_hidden_layers,), mean 1 − cos(h_in, h_out) over all positions.
    """

    mlp: list[torch.Tensor]
    heads: list[torch.Tensor]
    hidden: torch.Tensor
    layers: torch.Tensor


def _check_architecture(config) -> None:
    if config.model_type not in SUPPORTED:
        raise ValueError(f"pruning supports the Llama-layout decoders {SUPPORTED}; {config.model_type!r} is not one "
                         "of them (use --layers to cut whole layers).")


@torch.no_grad()
def estimate_importance(model, windows: torch.Tensor, batch_size: int = 4) -> Importance:
    """Score MLP channels, heads, hidden channels and layers of ``model`` on calibration windows.

    Args:
        model: a Llama-layout ``AutoModelForCausalLM`` (see ``SUPPORTED``), in eval mode.
        windows: int64 tensor (N, T) of calibration token ids.
        batch_size: windows per forward pass.

    Returns:
        The `Importance` scores (deterministic for fixed windows on one device).
    """
    _check_architecture(model.config)
    cfg = model.config
    layers = model.model.layers
    n_heads = cfg.num_attention_heads
    sq = {"mlp": [0.0] * len(layers), "heads": [0.0] * len(layers), "hidden": 0.0}
    turn = torch.zeros(len(layers), dtype=torch.float64)
    n_pos = 0

    def per_window(x: torch.Tensor) -> torch.Tensor:  # (B, T, C) → Σ_B (mean_T |x|)²: (C,)
        return x.abs().double().mean(1).pow(2).sum(0)

    def on_down(i):
        def hook(_mod, args):
            sq["mlp"][i] = sq["mlp"][i] + per_window(args[0])
        return hook

    def on_o(i):
        def hook(_mod, args):
            x = args[0]  # (B, T, nh·hd)
            heads = x.view(*x.shape[:2], n_heads, -1).norm(dim=-1)  # (B, T, nh)
            sq["heads"][i] = sq["heads"][i] + per_window(heads)
        return hook

    def on_norm(_mod, _args, out):
        sq["hidden"] = sq["hidden"] + per_window(out)

    def on_layer(i):
        def hook(_mod, args, kwargs, out):
            h_in = args[0] if args else kwargs["hidden_states"]
            h_out = out[0] if isinstance(out, tuple) else out
            cos = torch.nn.functional.cosine_similarity(h_in.double(), h_out.double(), dim=-1)  # (B, T)
            turn[i] += (1 - cos).sum()
        return hook

    handles = []
    for i, layer in enumerate(layers):
        handles += [layer.mlp.down_proj.register_forward_pre_hook(on_down(i)),
                    layer.self_attn.o_proj.register_forward_pre_hook(on_o(i)),
                    layer.input_layernorm.register_forward_hook(on_norm),
                    layer.post_attention_layernorm.register_forward_hook(on_norm),
                    layer.register_forward_hook(on_layer(i), with_kwargs=True)]
    try:
        for start in range(0, len(windows), batch_size):
            x = windows[start:start + batch_size]
            model(input_ids=x.to(model.device), use_cache=False)
            n_pos += x.numel()
    finally:
        for h in handles:
            h.remove()
    return Importance(mlp=[v.sqrt().float().cpu() for v in sq["mlp"]],
                      heads=[v.sqrt().float().cpu() for v in sq["heads"]],
                      hidden=sq["hidden"].sqrt().float().cpu(), layers=(turn / max(n_pos, 1)).float())


def top(scores: torch.Tensor, keep: int) -> list[int]:
    """Indices of the ``keep`` highest scores, sorted ascending; ties go to the lower index.

    Args:
        scores: float tensor (n,).
        keep: how many to keep (1..n).

    Returns:
        The kept indices, ascending.
    """
    order = torch.sort(-scores, stable=True).indices  # stable on the negated scores: equal scores keep index order
    return sorted(order[:keep].tolist())


def _kept(n: int, ratio: float) -> int:
    return max(1, min(n, round(n * (1 - ratio))))


def plan(imp: Importance, config, *, mlp: float = 0.0, heads: float = 0.0, hidden: float = 0.0,
         layers: int = 0) -> dict:
    """Which structures to keep, from importance scores and pruning ratios.

    Args:
        imp: the `estimate_importance` scores.
        config: the model's config.
        mlp: share of MLP channels to remove (0 ≤ r < 1), in every layer.
        heads: share of KV groups to remove (with their query heads), in every layer.
        hidden: share of hidden (embedding) channels to remove.
        layers: number of whole layers to remove (those of lowest block importance).

    Returns:
        The pruning map: ``layers`` (kept teacher layers), ``hidden`` (kept hidden channels), and per kept
        layer, keyed by its teacher index as a string, ``mlp`` (kept channels) and ``kv_groups`` (kept groups).

    Raises:
        ValueError: a ratio outside [0, 1), or ``layers`` not below the model's depth.
    """
    for name, r in (("prune_mlp", mlp), ("prune_heads", heads), ("prune_hidden", hidden)):
        if not 0 <= r < 1:
            raise ValueError(f"{name} must be a share in [0, 1), got {r}.")
    n_layers = config.num_hidden_layers
    if not 0 <= layers < n_layers:
        raise ValueError(f"prune_layers must be in 0..{n_layers - 1} (the teacher has {n_layers} layers), got {layers}.")
    n_kv = config.num_key_value_heads
    rep = config.num_attention_heads // n_kv
    kept_layers = top(imp.layers, n_layers - layers)
    per_layer = {}
    for i in kept_layers:
        groups = imp.heads[i].view(n_kv, rep).sum(1)  # a KV group scores the sum of its query heads
        per_layer[str(i)] = {"mlp": top(imp.mlp[i], _kept(config.intermediate_size, mlp)),
                             "kv_groups": top(groups, _kept(n_kv, heads))}
    return {"layers": kept_layers, "hidden": top(imp.hidden, _kept(config.hidden_size, hidden)), "per_layer": per_layer}


def _slice_layer(name: str, w: torch.Tensor, hid: torch.Tensor, mlp: torch.Tensor, q: torch.Tensor,
                 kv: torch.Tensor) -> torch.Tensor:
    """One layer weight with its pruned rows/columns removed (output rows first, then input columns)."""
    rows = {"self_attn.q_proj": q, "self_attn.k_proj": kv, "self_attn.v_proj": kv, "self_attn.o_proj": hid,
            "mlp.gate_proj": mlp, "mlp.up_proj": mlp, "mlp.down_proj": hid}
    cols = {"self_attn.q_proj": hid, "self_attn.k_proj": hid, "self_attn.v_proj": hid, "self_attn.o_proj": q,
            "mlp.gate_proj": hid, "mlp.up_proj": hid, "mlp.down_proj": mlp}
    module, _, kind = name.rpartition(".")
    if module in rows:
        w = w.index_select(0, rows[module])
        if kind == "weight":
            w = w.index_select(1, cols[module])
        return w
    if module in ("input_layernorm", "post_attention_layernorm"):
        return w.index_select(0, hid)
    if module in ("self_attn.q_norm", "self_attn.k_norm"):  # per head_dim: head_dim is kept
        return w
    raise ValueError(f"do not know how to prune layer weight {name!r}")


def prune_state_dict(state: dict[str, torch.Tensor], config, pmap: dict) -> dict[str, torch.Tensor]:
    """The teacher's weights with the structures outside ``pmap`` removed, layers renumbered 0..L-1.

    Args:
        state: the teacher's state dict.
        config: the teacher's config.
        pmap: a `plan` result.

    Returns:
        The student's state dict.

    Raises:
        ValueError: a weight this module does not know how to prune.
    """
    hd = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rep = config.num_attention_heads // config.num_key_value_heads
    hid = torch.tensor(pmap["hidden"])
    new_index = {old: new for new, old in enumerate(pmap["layers"])}
    out = {}
    for key, w in state.items():
        m = _LAYER_KEY.match(key)
        if m is None:
            if key in ("model.embed_tokens.weight", "lm_head.weight"):
                out[key] = w.index_select(1, hid)
            elif key == "model.norm.weight":
                out[key] = w.index_select(0, hid)
            else:
                raise ValueError(f"do not know how to prune weight {key!r}")
            continue
        i = int(m.group(1))
        if i not in new_index:
            continue
        layer = pmap["per_layer"][str(i)]
        groups = layer["kv_groups"]
        kv = torch.tensor([g * hd + d for g in groups for d in range(hd)])
        q = torch.tensor([(g * rep + r) * hd + d for g in groups for r in range(rep) for d in range(hd)])
        out[f"model.layers.{new_index[i]}.{m.group(2)}"] = _slice_layer(
            m.group(2), w, hid, torch.tensor(layer["mlp"]), q, kv).contiguous()
    return out


def pruned_config(config, pmap: dict):
    """The student's config: the teacher's with the pruned sizes (head_dim kept as the teacher's).

    Args:
        config: the teacher's config.
        pmap: a `plan` result.

    Returns:
        A new config object of the teacher's class.
    """
    n = config.num_hidden_layers
    hd = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rep = config.num_attention_heads // config.num_key_value_heads
    first = pmap["per_layer"][str(pmap["layers"][0])]
    s = config.__class__.from_dict(config.to_dict())
    s.num_hidden_layers = len(pmap["layers"])
    s.hidden_size = len(pmap["hidden"])
    s.intermediate_size = len(first["mlp"])
    s.num_key_value_heads = len(first["kv_groups"])
    s.num_attention_heads = len(first["kv_groups"]) * rep
    s.head_dim = hd  # no longer hidden_size // heads: say it
    for attr in _PER_LAYER_CONFIG:  # per-layer settings follow their layers
        value = getattr(s, attr, None)
        if isinstance(value, (list, tuple)) and len(value) == n:
            setattr(s, attr, [value[i] for i in pmap["layers"]])
    if getattr(s, "max_window_layers", None) is not None:  # Qwen2: sliding window above this layer index
        s.max_window_layers = sum(1 for i in pmap["layers"] if i < s.max_window_layers)
    return s


def prune_model(model, pmap: dict):
    """A new, smaller model holding the teacher's weights for the structures ``pmap`` keeps.

    Args:
        model: the teacher (``AutoModelForCausalLM``, Llama layout).
        pmap: a `plan` result.

    Returns:
        The pruned ``AutoModelForCausalLM``, in eval mode.

    Raises:
        RuntimeError: the pruned weights do not line up with the pruned config.
    """
    from transformers import AutoModelForCausalLM

    _check_architecture(model.config)
    s_cfg = pruned_config(model.config, pmap)
    student = AutoModelForCausalLM.from_config(s_cfg)
    state = prune_state_dict(model.state_dict(), model.config, pmap)
    missing, unexpected = student.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied embeddings
    if missing or unexpected:
        raise RuntimeError(f"pruned weights do not line up: missing {missing}, unexpected {unexpected}")
    return student.eval()


def calibration_windows(path: str | None, tokenizer, window: int, n: int) -> torch.Tensor:
    """Calibration windows from a corpus, or from Python's docs topics (the quickstart's training split).

    Args:
        path: a corpus (see `distill.lm.corpus.iter_documents`), or None/'' for Python's docs topics.
        tokenizer: the teacher's tokenizer.
        window: tokens per window.
        n: how many windows (the first n).

    Returns:
        int64 tensor (n', window), n' ≤ n.
    """
    import tempfile

    from distill.lm.corpus import pack_windows

    if path:
        return pack_windows(path, tokenizer, window, max_windows=n)
    from distill.lm.quickstart import pydoc_corpus

    with tempfile.TemporaryDirectory() as tmp:
        train, _ = pydoc_corpus(Path(tmp))
        return pack_windows(train, tokenizer, window, max_windows=n)


def build_pruned(teacher: str | None, out: str | Path, *, mlp: float = 0.0, heads: float = 0.0, hidden: float = 0.0,
                 layers: int = 0, calibration: str | None = None, window: int = 256, windows: int = 32) -> dict:
    """Write a pruned student HF folder (weights, config, the teacher's tokenizer).

    Args:
        teacher: the teacher (as for `distill.lm.models.resolve`).
        out: the student folder to write.
        mlp: share of MLP channels removed.
        heads: share of KV groups (with their query heads) removed.
        hidden: share of hidden channels removed.
        layers: number of layers removed.
        calibration: calibration corpus (None or '': Python's docs topics).
        window: tokens per calibration window.
        windows: number of calibration windows.

    Returns:
        Info dict (also written as ``distill_student.json``, with the full pruning map): ``teacher``, ``rule``,
        ``kept_layers``, ``teacher_layers``, ``teacher_parameters``, ``student_parameters``, ``sizes``,
        ``layer_importance``, ``calibration_tokens``.
    """
    from distill.lm.models import load_model, load_tokenizer, resolve

    source = resolve(teacher)
    t_model = load_model(source)
    _check_architecture(t_model.config)  # before the calibration pass, not after it
    tok = load_tokenizer(source)
    x = calibration_windows(calibration, tok, window, windows)
    imp = estimate_importance(t_model, x)
    log.info("importance estimated on %d calibration tokens", x.numel())
    pmap = plan(imp, t_model.config, mlp=mlp, heads=heads, hidden=hidden, layers=layers)
    rule = f"prune mlp {mlp:g}, heads {heads:g}, hidden {hidden:g}, layers {layers}"
    return write_pruned(t_model, tok, imp, pmap, out, teacher=source, rule=rule, calibration_tokens=x.numel())


def write_pruned(t_model, tokenizer, imp: Importance, pmap: dict, out: str | Path, *, teacher: str, rule: str,
                 calibration_tokens: int) -> dict:
    """Prune ``t_model`` by ``pmap`` and write the student folder (weights, config, tokenizer, info with the map).

    Args:
        t_model: the teacher model.
        tokenizer: the teacher's tokenizer (saved with the student).
        imp: the importance scores the map came from (layer scores are recorded).
        pmap: a `plan` result.
        out: the student folder to write.
        teacher: the teacher's path or id, recorded.
        rule: a description of the pruning, recorded.
        calibration_tokens: how many tokens the importance was estimated on, recorded.

    Returns:
        The info dict `build_pruned` describes.
    """
    from distill.files import atomic_json

    student = prune_model(t_model, pmap)
    out = Path(out)
    student.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    c = student.config
    info = {"teacher": teacher, "rule": rule, "kept_layers": pmap["layers"],
            "teacher_layers": t_model.config.num_hidden_layers,
            "teacher_parameters": sum(p.numel() for p in t_model.parameters()),
            "student_parameters": sum(p.numel() for p in student.parameters()),
            "sizes": {"hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
                      "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
                      "num_hidden_layers": c.num_hidden_layers, "head_dim": c.head_dim},
            "layer_importance": [round(v, 6) for v in imp.layers.tolist()],
            "calibration_tokens": calibration_tokens}
    atomic_json(out / "distill_student.json", info | {"map": pmap})
    return info
