"""`distill lm train`: white-box distillation of a causal LM, written out on accelerate.

Each optimizer step draws a batch of windows and takes its teacher targets from one of
three places:
  * a target store (off-policy, ``--targets STORE``, top-k or sampled): no teacher in memory at all;
  * a live teacher (off-policy): the teacher runs on the same windows, dense targets;
  * the student's own samples (on-policy, with probability ``lmbda`` per step, GKD's λ):
    the student continues the first half of each window, the teacher scores the result,
    and the loss covers the generated tokens only.
The loss is any divergence of ``distill.losses`` (chunked), optionally mixed with
cross-entropy on the text: ``(1 − ce_weight) · D + ce_weight · CE``. By default it is computed
fused (``distill.losses.fused_linear_loss``): from the student's last hidden states and output
layer (and the live teacher's), chunk by chunk, so no B × L × V logits tensor or gradient exists.

The same code runs on one CPU, one GPU, or several processes under ``accelerate launch``
(each process draws its own slice of the global batch). Checkpoints (``accelerate``'s
save_state: model, optimizer, scheduler, RNG) plus a step counter give exact resume; the
data order is a function of (seed, step), never of how many times the run was started.
Checkpoints are written atomically and stamped with the run's settings by
``distill.train.checkpoint`` (the same code as classic training): a kill while saving leaves the
previous checkpoint, and a rerun on the same ``--out`` with other settings is refused.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from distill.config import check, doc, settings, to_dict
from distill.files import write_results
from distill.lm.multi import TeacherSet
from distill.lm.names import Loss
from distill.lm.options import (
    CORPUS_HELP,
    CheckpointOptions,
    CorpusOptions,
    EvalOptions,
    LMOptimOptions,
    TeacherModelOptions,
)
from distill.losses import DIVERGENCES, LinearLogits, SampledTargets, TopKTargets, fused_linear_loss
from distill.results import Result
from distill.targets.store import stack_targets
from distill.train import checkpoint, loop
from distill.train.loop import LoopSpec

log = logging.getLogger(__name__)


@settings
class LMTrainConfig(CheckpointOptions, EvalOptions, LMOptimOptions, CorpusOptions, TeacherModelOptions):
    """Settings of `distill lm train`: the shared option groups of :mod:`distill.lm.options` (teacher, corpus,
    optimization, evaluation, checkpoints) and the loss."""

    student: str = doc("student HF folder (e.g. from `distill lm student`)", default="", group="models and data",
                       required=True)
    data: str = doc(f"{CORPUS_HELP}; not needed with --targets", default="", group="models and data")
    teachers: tuple[str, ...] = doc("several live teachers (each as --teacher takes it), replacing --teacher: routed "
                                    "per example by a 'teacher' field of the chat JSONL (an index or an entry of "
                                    "this list), or mixed with --teacher-weights", default=(), group="models and data")
    teacher_weights: tuple[float, ...] = doc("mix --teachers position by position with these weights (mix_teachers, "
                                             "exact at every temperature) instead of routing per example",
                                             default=(), group="models and data", ge=0)
    targets: tuple[str, ...] = doc("target stores from `distill lm capture` (off-policy, no live teacher); several: "
                                   "their windows one after another, each trained on its own store's teacher "
                                   "(multi-teacher routing from stores; a mixture is captured with `lm capture "
                                   "--teachers ... --teacher-weights ...`)", default=(), group="models and data")
    loss: Loss = doc(
        "divergence to the teacher ('ce': cross-entropy on the text only, the baseline; `distill list divergences`)",
        default="forward_kl", group="loss")
    beta: float = doc("jsd: β (0 forward KL … 1 reverse KL)", default=0.5, group="loss", ge=0, le=1)
    skew: float = doc("skew_kl / skew_rkl: α", default=0.1, group="loss", ge=0, lt=1)
    temperature: float = doc("temperature of both distributions in the divergence", default=1.0, group="loss", gt=0)
    ce_weight: float = doc("weight of cross-entropy on the text, mixed with the divergence", default=0.0, group="loss",
                           ge=0, le=1, was="alpha")
    chunk_size: int = doc("positions per loss chunk (bounds the loss's memory)", default=256, group="loss", ge=1)
    hidden_weight: float = doc(
        "intermediate-state KD (FitNets-style, as Minitron heals): add this weight × the mean over the student's "
        "layers (all but its last) of the squared difference between its output and that of the teacher layer it "
        "was made from, on the channels it kept, relative to the teacher's mean square (`distill.lm.hidden`); "
        "needs one live teacher and a student from `distill lm student` (0: off)",
        default=0.0, group="loss", ge=0)
    lmbda: float = doc("on-policy fraction: probability that a step trains on the student's own samples",
                       default=0.0, group="on-policy (GKD)", ge=0, le=1)
    max_new_tokens: int = doc("on-policy: tokens the student generates after half a window", default=32,
                              group="on-policy (GKD)", ge=1)
    window: int = doc("tokens per training window (with --targets: the store's window)", default=256,
                      group="models and data", ge=1)
    cross_tokenizer: Literal["none", "uld", "hybrid"] = doc(
        "a teacher with another tokenizer: 'uld' (Wasserstein-1 of the sorted distributions, position by position) "
        "or 'hybrid' (spans aligned by character offsets, exact KL on shared tokens, ULD on the rest); the teacher "
        "live, or from a store of `lm capture --targets-kind cross`; 'none' refuses such a teacher",
        default="none", group="loss")
    fused_loss: bool = doc("compute the loss from the last hidden states and the output layer chunk by chunk, so the "
                           "B×L×V logits and their gradient never exist (used when the model exposes its output "
                           "layer and its logits are exactly that layer's output; --no-fused-loss: from the logits)",
                           default=True, group="loss")
    out: str = doc("output folder: the trained student (HF folder), metrics.csv, checkpoint/", default="runs/lm",
                   group="output")

    def __post_init__(self):
        if isinstance(self.targets, (str, Path)):  # one store given as a path (Python callers of the old field)
            object.__setattr__(self, "targets", (str(self.targets),))
        check(bool(self.data) or bool(self.targets), "data", self.data, "a corpus path unless --targets is given")
        check(self.lmbda == 0 or not self.targets, "lmbda", self.lmbda,
              "0 with --targets (on-policy training needs a live teacher)")
        check(not self.teacher_weights or len(self.teacher_weights) == len(self.teachers), "teacher_weights",
              self.teacher_weights, f"one weight per --teachers entry ({len(self.teachers)})")
        check(not self.teacher_weights or sum(self.teacher_weights) > 0, "teacher_weights", self.teacher_weights,
              "weights with a positive sum")
        check(not (self.teachers and self.targets), "teachers", self.teachers, "empty with --targets (stores "
              "hold one teacher's targets)")
        check(self.hidden_weight == 0 or not (self.targets or self.teachers or self.cross_tokenizer != "none"
                                              or self.loss == "ce"), "hidden_weight", self.hidden_weight,
              "0 unless one live teacher of the student's tokenizer is distilled (stores keep no hidden states)")


# metrics.csv columns; cpu_seconds is this process's CPU time for the step: on a shared machine it
# measures the work done where wall-clock seconds also measure the neighbours.
METRICS = ["step", "loss", "divergence", "ce", "on_policy", "lr", "tokens", "seconds", "cpu_seconds", "grad_norm",
           "hidden"]


def _tensorboard(out: Path, enabled: bool, purge_step: int):
    """A SummaryWriter under out/tensorboard, or None when disabled or tensorboard is not installed.

    ``purge_step``: on resume, events at or after this step from the interrupted run are dropped
    (the CSV is truncated the same way), so every step appears once.
    """
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch's writer needs the tensorboard package
        log.info("tensorboard is not installed: metrics go to metrics.csv only (pip install tensorboard)")
        return None
    return SummaryWriter(str(out / "tensorboard"), purge_step=purge_step)


def _forget_after(out: Path, metrics_path: Path, step: int, new_file: bool) -> None:
    """Drop metrics logged after the checkpoint we (re)start from: a fresh run clears old
    TensorBoard events, a resumed one truncates the CSV to the checkpoint's step."""
    import shutil

    if new_file:
        shutil.rmtree(out / "tensorboard", ignore_errors=True)
        return
    with open(metrics_path, newline="") as f:
        rows = list(csv.reader(f))
    keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
    if len(keep) != len(rows):
        with open(metrics_path, "w", newline="") as f:
            csv.writer(f).writerows(keep)


def _drop_tied_aliases(models, weights, output_dir) -> None:
    """accelerate ``save_state`` pre-hook: keep one name per shared tensor in each state dict.

    Tied embeddings (``tie_word_embeddings``: ``lm_head.weight`` *is* ``model.embed_tokens.weight``)
    cannot be stored twice in safetensors, so accelerate drops the alias itself, with a warning meant for
    aliasing made at run time that a reload would not restore. Ours comes from the model's config, and
    ``load_state`` loads into a model built from that config, which ties them again; dropping the alias
    here writes the same file without the alarm. Untied weights are left alone."""
    for state in weights:
        seen = set()
        for name in list(state):
            t = state[name]
            if not isinstance(t, torch.Tensor):
                continue
            key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
            if key in seen:
                del state[name]
            seen.add(key)


def divergence(cfg: LMTrainConfig, student_logits, targets, labels=None) -> torch.Tensor:
    """The divergence ``cfg.loss`` between student logits and teacher targets, with its settings from ``cfg``.

    Args:
        cfg: the training settings (loss name, temperature, chunk size, loss parameters).
        student_logits: (B, L, V) student logits.
        targets: the teacher's targets for the same positions (logits or stored top-k/sampled).
        labels: (B, L) token ids for losses that use them (None: none).

    Returns:
        The scalar loss.
    """
    entry = DIVERGENCES[cfg.loss]
    kw = {"temperature": cfg.temperature, "labels": labels, "chunk_size": cfg.chunk_size}
    kw |= {name: getattr(cfg, name) for name in entry.params}  # the registry says which settings it takes
    return entry(student_logits, targets, **kw)


def output_layer(model, probe: torch.Tensor | None = None, V: int | None = None):
    """The model's output layer if the fused loss can use it, else None.

    Usable means: ``get_output_embeddings()`` returns a layer with a (V, H) ``weight`` (and optional bias), and,
    when a ``probe`` batch is given, the model's logits on it equal that layer applied to the last hidden
    states (``output_hidden_states``). The check catches what a fused loss would silently get wrong: logit
    soft-capping, logit scaling, or an output layer wrapped by an adapter.

    Args:
        model: a causal LM (unwrapped).
        probe: optional (b, l) token ids to check the logits on.
        V: compare the first V logits only (None: all).

    Returns:
        The layer (an ``nn.Module`` with ``weight`` and ``bias``), or None.
    """
    get = getattr(model, "get_output_embeddings", None)
    layer = get() if callable(get) else None
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return None
    if probe is not None:
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(probe, use_cache=False, output_hidden_states=True)
                hidden = out.hidden_states[-1]
                mine = _head_logits(layer, hidden, V)
                ok = torch.allclose(out.logits[..., :V].float(), mine.float(), rtol=1e-4, atol=1e-4)
        except (TypeError, AttributeError):  # no output_hidden_states: not an HF causal LM we can fuse
            ok = False
        finally:
            model.train(was)
        if not ok:
            return None
    return layer


def _head_logits(layer, hidden, V):
    bias = getattr(layer, "bias", None)
    return F.linear(hidden, layer.weight[:V], None if bias is None else bias[:V])


def linear_logits(model, layer, ids: torch.Tensor, V: int, *, all_hidden: bool = False):
    """The model's last hidden states on ``ids`` with its output layer, sliced to the first V tokens;
    only one position's logits are made (``logits_to_keep=1``) and none of them is used.

    Args:
        model: the (possibly wrapped) model to call: gradients and distributed hooks go through it.
        layer: its output layer (from ``output_layer``).
        ids: (b, L) token ids.
        V: the shared vocabulary size.
        all_hidden: also return every hidden state (``output_hidden_states``, for intermediate-state KD).

    Returns:
        ``LinearLogits`` with hidden (b, L, H) and weight (V, H) (a view of the layer's own weight, so its
        gradient lands on the parameter; tied embeddings included); with ``all_hidden``, the pair
        (``LinearLogits``, the tuple of hidden states).
    """
    out = model(ids, use_cache=False, output_hidden_states=True, logits_to_keep=1)
    bias = getattr(layer, "bias", None)
    ll = LinearLogits(out.hidden_states[-1], layer.weight[:V], None if bias is None else bias[:V])
    return (ll, out.hidden_states) if all_hidden else ll


def text_ce(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token cross-entropy: logits (B, L, V) at t predict ids at t + 1; mask (B, L) marks counted targets.

    Args:
        logits: (B, L, V) logits.
        ids: (B, L) token ids.
        mask: (B, L) bool, True on counted tokens (None: all counted).

    Returns:
        The scalar mean cross-entropy.
    """
    labels = ids[:, 1:].clone()
    if mask is not None:
        labels[~mask[:, 1:]] = -100
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                           ignore_index=-100)


# Settings that only decide where, when or how visibly the run writes: they may change on resume.
_RESUMABLE_FIELDS = ("out", "checkpoint_every", "tensorboard", "eval_every", "eval_data", "eval_windows")


def run_settings(cfg: LMTrainConfig, n_windows: int, vocab_size: int) -> dict:
    """What a checkpoint must agree on to be resumed: every setting but ``_RESUMABLE_FIELDS``, and the
    size of the data and vocabulary (another corpus behind the same path is another run).

    Args:
        cfg: the training settings.
        n_windows: number of training windows.
        vocab_size: V, the shared vocabulary size.

    Returns:
        {"config", "windows", "vocab_size"}.
    """
    stamped = {k: v for k, v in to_dict(cfg).items() if k not in _RESUMABLE_FIELDS}
    return {"config": stamped, "windows": n_windows, "vocab_size": vocab_size}


class _Batches:
    """Window indices of each step: a permutation per epoch seeded by (seed, epoch)."""

    def __init__(self, n: int, batch: int, seed: int):
        if n < batch:
            raise ValueError(f"the data hold {n} windows, fewer than one batch of {batch}; lower --batch-size.")
        self.n, self.batch, self.seed = n, batch, seed
        self.per_epoch = n // batch

    def __call__(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.per_epoch)
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
        return order[i * self.batch : (i + 1) * self.batch]


class TrainResult(Result):
    """What `distill lm train` (and `distill docs train`, which runs on it) returns (``results.json``)."""

    steps: int
    completed: bool
    seconds: float
    out: str
    config: dict

    def summary(self) -> str:
        return f"trained {self['steps']} steps in {self['seconds']} s → {self.get('model', self['out'])}"


def run(cfg: LMTrainConfig, *, stop_after_steps: int | None = None) -> TrainResult:
    """`distill lm train`: distill (or fine-tune with CE) a student LM; resumable from ``cfg.out``.

    Args:
        cfg: the training settings.
        stop_after_steps: stop after this many steps (how tests interrupt a run; None: run to the end).

    Returns:
        JSON-able result: ``steps``, ``completed``, ``seconds``, ``last_loss``, ``out``, ``config``, and
        ``evaluations`` / ``model`` when there are any.

    Raises:
        ValueError: settings that do not fit the data or targets (e.g. sampled targets with a loss
            they cannot estimate, on-policy steps on chat data, a batch not divisible across processes).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from distill.lm.compat import IncompatibleTokenizers, shared_vocab_size, tokenizer_fingerprint
    from distill.lm.corpus import chat_examples, is_chat_jsonl, pack_windows
    from distill.lm.models import load_model, load_tokenizer, resolve
    from distill.targets.store import StoreSet

    acc = Accelerator(mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.grad_accum)
    acc.register_save_state_pre_hook(_drop_tied_aliases)
    set_seed(cfg.seed)
    out = Path(cfg.out)
    s_tok = load_tokenizer(cfg.student)
    student = load_model(cfg.student)
    use_teacher = cfg.loss != "ce" and not cfg.targets
    teacher = teachers = routes = cross = None
    masks = None
    if cfg.targets:
        # every store's tokenizer must be the student's (for a cross store: the one that cut its windows)
        store = StoreSet(cfg.targets, tokenizer_hash=tokenizer_fingerprint(s_tok))
        takes_draws = cfg.loss != "ce" and (DIVERGENCES[cfg.loss].sampled_targets or (cfg.loss == "jsd" and cfg.beta == 0))
        if store.manifest.kind in ("sampled", "hybrid") and not takes_draws:
            raise ValueError(f"--targets {_names(cfg.targets)} holds {store.manifest.kind} targets, which estimate the forward-KL "
                             f"gradient without bias and nothing else; use --loss forward_kl (got --loss {cfg.loss}), "
                             "or a top-k store.")
        V = store.manifest.vocab_size
        if store.manifest.kind == "cross":
            cross = _cross_store_setup(cfg, s_tok, store)
            V = len(s_tok)
        elif cfg.cross_tokenizer != "none":
            raise ValueError(f"--cross-tokenizer {cfg.cross_tokenizer} with --targets needs a cross-tokenizer store "
                             f"(`distill lm capture --targets-kind cross --student ...`); {_names(cfg.targets)} holds "
                             f"{store.manifest.kind} targets in the student's own tokens: drop --cross-tokenizer.")
        if store.manifest.kind == "topk" and store.manifest.temperature != cfg.temperature and store.manifest.k < V:
            # Inside the top k re-tempering from the capture temperature is exact; the tail's tempered
            # mass is not known from its total and is approximated (see TopKTargets).
            log.warning("--targets %s was captured at temperature %g and this run trains at %g: the top-%d tokens "
                        "are re-tempered exactly, the tail mass approximately; capture at --temperature %g for "
                        "exact targets.", _names(cfg.targets), store.manifest.temperature, cfg.temperature,
                        store.manifest.k, cfg.temperature)
        windows = None
        n_windows = len(store)
    else:
        store = None
        if use_teacher:
            specs = list(cfg.teachers) or [cfg.teacher]
            models, sizes = [], []
            for spec in specs:
                t_path = resolve(spec)
                models.append(load_model(t_path, device=acc.device))
                try:
                    sizes.append(shared_vocab_size(load_tokenizer(t_path), s_tok, models[-1].config.vocab_size,
                                                   student.config.vocab_size))
                except IncompatibleTokenizers:
                    if cfg.cross_tokenizer == "none" or len(specs) > 1:
                        raise
                    cross = _cross_setup(cfg, s_tok, load_tokenizer(t_path))
                    sizes.append(len(s_tok))
            V = min(sizes)
            teacher = models[0]  # evaluation's KL, and the fused teacher path of a one-teacher run
            teachers = TeacherSet(models, specs, cfg.teacher_weights, cfg.temperature)
        else:  # cross-entropy on text only (the baseline, black-box data): no teacher, any tokenizer
            V = student.config.vocab_size
        if cross is not None:
            from distill.lm.crosstrain import cross_windows

            windows = cross_windows(cfg.data, s_tok, cross["t_tok"], cfg.window, cfg.max_windows or None)
        elif teachers is not None and teachers.routed:
            if not is_chat_jsonl(cfg.data):
                raise ValueError(f"--teachers without --teacher-weights routes each example to the teacher its "
                                 f"'teacher' field names, which needs chat JSONL records; {cfg.data} is a text "
                                 "corpus (give --teacher-weights to mix the teachers instead).")
            windows, masks, values, where = chat_examples(cfg.data, s_tok, cfg.window, field="teacher")
            routes = torch.tensor([teachers.route_of(v, w) for v, w in zip(values, where, strict=True)])
            if cfg.lmbda > 0:
                raise ValueError("lmbda must be 0 with chat data (on-policy sampling continues plain text windows).")
        elif is_chat_jsonl(cfg.data):  # chat data (e.g. a docs data set): loss on the replies only
            windows, masks = chat_examples(cfg.data, s_tok, cfg.window)
            if cfg.lmbda > 0:
                raise ValueError("lmbda must be 0 with chat data (on-policy sampling continues plain text windows).")
        else:
            windows = pack_windows(cfg.data, s_tok, cfg.window, cfg.max_windows or None)
        n_windows = len(windows)
    if cfg.lora_r:
        from peft import LoraConfig, get_peft_model

        student = get_peft_model(student, LoraConfig(r=cfg.lora_r, lora_alpha=2 * cfg.lora_r, target_modules="all-linear"))
    student.train()
    opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)

    def lr_at(step):
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    student, opt, sched = acc.prepare(student, opt, sched)
    global_micro = cfg.batch_size // cfg.grad_accum
    if cfg.batch_size % (cfg.grad_accum * acc.num_processes):
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by grad_accum × processes "
                         f"({cfg.grad_accum} × {acc.num_processes}).")
    batches = _Batches(n_windows, cfg.batch_size, cfg.seed)
    local = global_micro // acc.num_processes
    # the teacher's hidden states feed the fused loss only for one teacher (a mixture or a route needs logits)
    one = teachers is None or len(teachers.models) == 1
    heads = None if cross else _fused_heads(cfg, acc, student, teacher if one else None, store, windows, V)

    ckpt = out / "checkpoint"
    settings = run_settings(cfg, n_windows, V)
    found = checkpoint.find(ckpt)
    # Where the loop will resume (it checks the settings again): metrics logged after it are dropped.
    step = checkpoint.read_state(found, settings) if found is not None else 0
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.csv"
    new_file = not metrics_path.exists() or step == 0
    if acc.is_main_process:
        _forget_after(out, metrics_path, step, new_file)
    mfile = open(metrics_path, "w" if new_file else "a", newline="") if acc.is_main_process else None
    writer = csv.writer(mfile) if mfile else None
    if writer and new_file:
        writer.writerow(METRICS)
    tb = _tensorboard(out, cfg.tensorboard, purge_step=step + 1) if acc.is_main_process else None
    recipe = _LMRecipe(cfg, acc, student, teachers, store, windows, masks, V, batches, global_micro, local, heads,
                       routes, cross)
    clock = {"t": time.time(), "c": time.process_time()}

    def on_step(step: int, stats: dict, lr: float) -> None:
        row = [step, f"{stats['loss']:.6f}", f"{stats['divergence']:.6f}", f"{stats['ce']:.6f}",
               int(recipe.on_policy), f"{lr:.3e}", int(stats["tokens"]), f"{time.time() - clock['t']:.3f}",
               f"{time.process_time() - clock['c']:.3f}", f"{stats.get('grad_norm', float('nan')):.6g}",
               f"{stats.get('hidden', 0.0):.6f}"]
        writer.writerow(row)
        mfile.flush()
        if tb is not None:  # the same numbers as the CSV row (as written, so the two agree exactly)
            for name, value in zip(METRICS[1:], row[1:], strict=True):
                tb.add_scalar(f"train/{name}", float(value), step)
        clock.update(t=time.time(), c=time.process_time())

    held_out = _held_out(cfg, s_tok) if cfg.eval_every else None

    def evaluate(step: int) -> dict:
        res = evaluate_windows(acc.unwrap_model(student), None if cross else teacher, held_out, V, acc.device,
                               cfg.batch_size)  # a cross-tokenizer teacher's logits index other tokens: no KL
        if tb is not None:
            for k, v in res.items():
                tb.add_scalar(f"eval/{k}", v, step)
        return res

    spec = LoopSpec(steps=cfg.steps, desc="lm train", max_grad_norm=cfg.max_grad_norm,
                    checkpoint_every=cfg.checkpoint_every, eval_every=cfg.eval_every)
    t_start = time.time()
    try:
        r = loop.run(recipe, model=student, optimizer=opt, scheduler=sched, accelerator=acc, spec=spec, ckpt=ckpt,
                     settings=settings, on_step=on_step if writer else None,
                     evaluate=evaluate if held_out is not None else None, stop_after_steps=stop_after_steps)
    finally:
        if mfile:
            mfile.close()
        if tb is not None:
            tb.close()
    step = r.step
    result = TrainResult(steps=step, completed=step >= cfg.steps, seconds=round(time.time() - t_start, 2),
                         last_loss=r.last.get("loss"), loss_path="fused" if heads else "logits", out=str(out),
                         config=to_dict(cfg))
    if r.evaluations:
        result["evaluations"] = r.evaluations
    if step >= cfg.steps and acc.is_main_process:
        model = acc.unwrap_model(student)
        if cfg.lora_r:
            model = model.merge_and_unload()  # a normal HF folder, no peft needed to load it
        model.save_pretrained(out / "model", safe_serialization=True)
        s_tok.save_pretrained(out / "model")
        result["model"] = str(out / "model")
        result.report = markdown(result)
        write_results(out, result)
    return result


def markdown(res: dict) -> str:
    """The run in a few lines: what was trained, how long, where the model and its metrics are.

    Args:
        res: a `run` result.

    Returns:
        Markdown text.
    """
    c = res["config"]
    loss = c["loss"] + (f" + {c['ce_weight']:g} × CE on the text" if c.get("ce_weight") and c["loss"] != "ce" else "")
    stores = c.get("targets") or []
    source = (f"target store{'s' if len(stores) > 1 else ''} {', '.join(stores)}" if stores
              else f"teacher {c['teacher']}")
    if c.get("teachers") and not c.get("targets"):
        how = f"mixed with weights {c['teacher_weights']}" if c.get("teacher_weights") else "routed per example"
        source = f"teachers {', '.join(c['teachers'])} ({how})"
    lines = [f"# distill lm train: {res['steps']} steps in {res['seconds']:.0f} s", "",
             "| | |", "|---|---|", f"| student | {c['student']} |", f"| loss | {loss} |",
             f"| targets | {'text only' if c['loss'] == 'ce' else source} |",
             f"| on-policy fraction λ | {c['lmbda']:g} |",
             f"| batch | {c['batch_size']} × {c['window']} tokens, {c['grad_accum']} micro-batch(es) |",
             f"| trained model | {res.get('model', '(not finished)')} |",
             f"| per-step metrics | {res['out']}/metrics.csv |"]
    return "\n".join(lines) + "\n"


def _cross_setup(cfg, s_tok, t_tok) -> dict:
    """What a cross-tokenizer run needs from the two tokenizers (and the settings it refuses)."""
    from distill.lm.corpus import is_chat_jsonl
    from distill.lm.crosstrain import vocab_pairs

    check(cfg.lmbda == 0, "lmbda", cfg.lmbda, "0 with --cross-tokenizer (on-policy samples are the student's tokens)")
    check(not is_chat_jsonl(cfg.data), "data", cfg.data, "a text corpus with --cross-tokenizer (not chat JSONL)")
    pad = t_tok.pad_token_id if t_tok.pad_token_id is not None else (t_tok.eos_token_id or 0)
    vocab = vocab_pairs(s_tok, t_tok) if cfg.cross_tokenizer == "hybrid" else None
    if vocab is not None:
        log.info("cross-tokenizer (hybrid): %d token strings shared by the student (%d) and teacher (%d) vocabularies",
                 len(vocab[0]), len(s_tok), len(t_tok))
    return {"t_tok": t_tok, "pad": pad, "vocab": vocab, "t_vocab": len(t_tok)}


def _names(paths) -> str:
    return " ".join(str(p) for p in paths)


def _cross_store_setup(cfg, s_tok, store) -> dict:
    """What a run on a cross-tokenizer store needs: the shared vocabulary from the teacher's tokenizer (checked
    against the one the store was captured with), and the settings it refuses."""
    from distill.lm.compat import tokenizer_fingerprint
    from distill.lm.crosstrain import vocab_pairs
    from distill.lm.models import load_tokenizer, resolve

    m = store.manifest
    check(cfg.cross_tokenizer != "none", "cross_tokenizer", cfg.cross_tokenizer,
          f"uld or hybrid: --targets {_names(cfg.targets)} holds a teacher of another tokenizer")
    check(cfg.loss != "ce", "loss", cfg.loss, "a divergence with --cross-tokenizer (ce trains on the text alone)")
    check(cfg.lmbda == 0, "lmbda", cfg.lmbda, "0 with --cross-tokenizer (on-policy samples are the student's tokens)")
    check(cfg.temperature == m.temperature, "temperature", cfg.temperature,
          f"{m.temperature:g}, the temperature {_names(cfg.targets)} was captured at (a top-k tail cannot be re-tempered "
          "across tokenizers)")
    vocabs = None
    if cfg.cross_tokenizer == "hybrid":  # per store: its teacher's tokenizer (several teachers may differ)
        by_tokenizer = {}
        for st in store.stores:
            sm = st.manifest
            if sm.teacher_tokenizer_hash not in by_tokenizer:
                t_tok = load_tokenizer(resolve(sm.teacher))
                if tokenizer_fingerprint(t_tok) != sm.teacher_tokenizer_hash:
                    raise ValueError(f"--targets {st.path} was captured with a teacher tokenizer "
                                     f"({sm.teacher_tokenizer_hash[:12]}) other than {sm.teacher}'s now "
                                     f"({tokenizer_fingerprint(t_tok)[:12]}); capture again.")
                by_tokenizer[sm.teacher_tokenizer_hash] = vocab_pairs(s_tok, t_tok)
        vocabs = [by_tokenizer[st.manifest.teacher_tokenizer_hash] for st in store.stores]
    return {"vocabs": vocabs, "stored": True}


def _cross_step(cfg, acc, student, teacher, windows, rows, V, cross, store=None):
    """Loss of one micro-batch with a teacher of another tokenizer (``distill.lm.crosstrain``): live, or
    from a cross store (``store``)."""
    from distill.lm.crosstrain import batch, cross_loss, cross_loss_stored

    if store is not None:
        got = [store[int(i)] for i in rows]
        items = [w for w, _ in got]
        s_ids = torch.stack([w.student_ids for w in items]).to(acc.device)
        logits = student(s_ids, use_cache=False).logits[..., :V]
        vocab = None if cross["vocabs"] is None else [cross["vocabs"][store.store_of(int(i))] for i in rows]
        div = cross_loss_stored(cfg.cross_tokenizer, logits, items, [t for _, t in got], vocab, cfg.temperature)
    else:
        items = [windows[int(i)] for i in rows]
        s_ids, t_ids = (x.to(acc.device) for x in batch(items, cross["pad"]))
        with torch.no_grad():
            t_logits = teacher(t_ids, use_cache=False).logits[..., : cross["t_vocab"]].float()
        logits = student(s_ids, use_cache=False).logits[..., :V]
        div = cross_loss(cfg.cross_tokenizer, logits, t_logits, items, cross["vocab"], cfg.temperature)
    ce = text_ce(logits, s_ids) if cfg.ce_weight > 0 else None
    loss = div if ce is None else (1 - cfg.ce_weight) * div + cfg.ce_weight * ce
    parts = {"tokens": int(s_ids.numel()), "loss": loss.item(), "divergence": div.item(),
             "ce": 0.0 if ce is None else ce.item()}
    return loss, parts


def _fused_heads(cfg, acc, student, teacher, store, windows, V):
    """(student layer, teacher layer or None) when the loss runs fused, else None (and why, logged)."""
    if not cfg.fused_loss or cfg.loss == "ce":
        return None
    if store is not None:
        probe = store[0][0][None, :8].to(acc.device)
    else:
        probe = windows[:1, :8].to(acc.device)
    s_layer = output_layer(acc.unwrap_model(student), probe, V)
    if s_layer is None:
        log.info("fused loss off: the student's logits are not its output layer applied to its last hidden "
                 "states (soft-capping, scaling or an adapter on the output layer); computing from the logits")
        return None
    t_layer = output_layer(teacher, probe, V) if teacher is not None else None
    log.info("fused loss: from the student's hidden states and output layer%s, %d positions per chunk",
             " and the teacher's" if t_layer is not None else "", cfg.chunk_size)
    return s_layer, t_layer


class _LMRecipe:
    """LM distillation on the loop: ``grad_accum`` micro-batches per step from a seeded permutation per
    epoch, each process its shard; whether a step is on-policy is drawn from (seed, step)."""

    def __init__(self, cfg, acc, student, teachers, store, windows, masks, V, batches, global_micro, local,
                 heads=None, routes=None, cross=None):
        self.cfg, self.acc, self.student, self.teachers, self.store = cfg, acc, student, teachers, store
        self.heads, self.routes, self.cross = heads, routes, cross
        self.hmap = None
        if cfg.hidden_weight > 0:
            from distill.lm.hidden import hidden_map

            self.hmap = hidden_map(cfg.student)
            self.hmap.check_teacher(teachers.models[0].config, cfg.student)
        self.windows, self.masks, self.V, self.batches = windows, masks, V, batches
        self.global_micro, self.local = global_micro, local
        self.on_policy = False

    def micro_batches(self, step: int) -> list:
        cfg, acc = self.cfg, self.acc
        rows = self.batches(step)
        self.on_policy = cfg.lmbda > 0 and torch.rand((), generator=torch.Generator().manual_seed(
            cfg.seed * 7919 + step)).item() < cfg.lmbda
        micro = [rows[m * self.global_micro : (m + 1) * self.global_micro] for m in range(cfg.grad_accum)]
        return [m[acc.process_index * self.local : (acc.process_index + 1) * self.local] for m in micro]

    def loss(self, rows, step: int):
        if self.cross is not None:
            if self.store is not None:
                return _cross_step(self.cfg, self.acc, self.student, None, None, rows, self.V, self.cross, self.store)
            return _cross_step(self.cfg, self.acc, self.student, self.teachers.models[0], self.windows, rows, self.V,
                               self.cross)
        return _micro_step(self.cfg, self.acc, self.student, self.teachers, self.store, self.windows, rows, self.V,
                           self.on_policy, self.masks, self.heads, None if self.routes is None else self.routes[rows],
                           self.hmap)

    def save(self, folder: Path) -> None:
        self.acc.save_state(str(folder))

    def load(self, folder: Path) -> None:
        self.acc.load_state(str(folder))


def _held_out(cfg, tokenizer) -> torch.Tensor:
    """The windows evaluated every ``eval_every`` steps: ``eval_data``'s first ``eval_windows``."""
    from distill.lm.corpus import pack_windows

    if not cfg.eval_data:
        raise ValueError("eval_every needs a held-out corpus: pass --eval-data PATH.")
    windows = pack_windows(cfg.eval_data, tokenizer, cfg.window, cfg.eval_windows)
    if len(windows) == 0:
        raise ValueError(f"--eval-data {cfg.eval_data} holds no window of {cfg.window} tokens.")
    return windows


@torch.no_grad()
def evaluate_windows(student, teacher, windows: torch.Tensor, V: int, device, batch_size: int) -> dict[str, float]:
    """Held-out quality during training: the student's next-token cross-entropy and perplexity on
    ``windows`` (n, L), and its forward KL to the teacher where there is one in memory.

    Args:
        student: the model being trained.
        teacher: the live teacher, or None (a target store or CE-only run).
        windows: (n, L) token ids.
        V: the shared vocabulary size (logits beyond it are ignored).
        device: where to run.
        batch_size: windows per forward.

    Returns:
        {"eval_ce", "eval_perplexity"} and, with a teacher, "eval_kl".
    """
    from distill.losses import forward_kl

    was = student.training
    student.eval()
    ce = kl = 0.0
    n = 0
    for b in range(0, len(windows), batch_size):
        ids = windows[b : b + batch_size].to(device)
        logits = student(ids, use_cache=False).logits[..., :V].float()
        ce += text_ce(logits, ids).item() * len(ids)
        if teacher is not None:
            t = teacher(ids, use_cache=False).logits[..., :V].float()
            kl += forward_kl(logits[:, :-1], t[:, :-1]).item() * len(ids)
        n += len(ids)
    student.train(was)
    res = {"eval_ce": ce / n, "eval_perplexity": math.exp(min(ce / n, 50.0))}
    return res | ({"eval_kl": kl / n} if teacher is not None else {})


def _micro_step(cfg, acc, student, teachers, store, windows, rows, V, on_policy, masks=None, heads=None,
                routes=None, hmap=None):
    """Loss of one micro-batch and its parts (floats) for the metrics.

    ``teachers``: the run's ``TeacherSet`` (None without a live teacher).
    ``masks`` (chat data): True on the tokens whose prediction counts (the replies), per window.
    ``heads``: (student output layer, teacher output layer or None) for the fused loss, or None.
    ``routes``: (b,) teacher index per example of a routed multi-teacher run, or None.
    ``hmap``: the ``distill.lm.hidden.HiddenMap`` of intermediate-state KD (``--hidden-weight``), or None.
    """
    t_hidden = None
    device = acc.device
    mask = None
    if store is not None:
        items = [store[int(i)] for i in rows]
        ids = torch.stack([x for x, _ in items]).to(device)  # (b, L)
        targets = _to(stack_targets([t for _, t in items]), device)  # (b, L, k) top-k or sampled
    else:
        ids = windows[rows].to(device)  # (b, L)
        if masks is not None:
            mask = masks[rows].to(device)
        if on_policy:
            ids, mask = _sample(cfg, acc.unwrap_model(student), ids)
        targets = None
        if teachers is not None:
            with torch.no_grad():
                if heads is not None and heads[1] is not None:  # the teacher's logits, chunk by chunk
                    targets = linear_logits(teachers.models[0], heads[1], ids, V, all_hidden=hmap is not None)
                    if hmap is not None:
                        targets, t_hidden = targets
                elif hmap is not None:  # one teacher (checked at setup): its logits and hidden states
                    out = teachers.models[0](ids, use_cache=False, output_hidden_states=True)
                    targets, t_hidden = out.logits[..., :V].float(), out.hidden_states
                else:
                    targets = teachers.targets(ids, V, None if routes is None else routes.to(ids.device))
    if heads is not None:
        return _fused_step(cfg, student, heads[0], ids, targets, mask, V, hmap, t_hidden)
    out = student(ids, use_cache=False, output_hidden_states=hmap is not None)  # no KV cache while training
    logits = out.logits[..., :V]  # (b, L, V)
    parts = {"tokens": int(ids.numel())}
    ce = text_ce(logits, ids, mask) if (cfg.ce_weight > 0 or cfg.loss == "ce") else None
    if cfg.loss == "ce":
        loss = ce
        div = torch.zeros(())
    else:
        # Positions t predict token t + 1; on-policy (or chat data), only positions whose next token was
        # generated (is part of a reply) count.
        labels, _ = _labels(ids, mask)
        div = divergence(cfg, logits, targets, labels)
        loss = div if ce is None else (1 - cfg.ce_weight) * div + cfg.ce_weight * ce
    if hmap is not None:
        loss = _add_hidden(cfg, loss, out.hidden_states, t_hidden, hmap, parts)
    parts.update(loss=loss.item(), divergence=div.item(), ce=0.0 if ce is None else ce.item())
    return loss, parts


def _add_hidden(cfg, loss, s_hidden, t_hidden, hmap, parts: dict):
    """``loss`` + ``hidden_weight`` × the intermediate-state loss (recorded in ``parts['hidden']``)."""
    from distill.lm.hidden import hidden_loss

    h = hidden_loss(s_hidden, t_hidden, hmap)
    parts["hidden"] = h.item()
    return loss + cfg.hidden_weight * h


def _labels(ids: torch.Tensor, mask: torch.Tensor | None):
    """(divergence labels or None, CE labels), each (b, L): position t predicts token t + 1; −100 marks
    positions that do not count (no next token; with a mask, a next token that is not generated / a reply)."""
    labels = None
    if mask is not None:
        labels = torch.zeros_like(ids)
        labels[:, :-1][~mask[:, 1:]] = -100
        labels[:, -1] = -100
    ce = torch.full_like(ids, -100)
    ce[:, :-1] = ids[:, 1:]
    if mask is not None:
        ce[:, :-1][~mask[:, 1:]] = -100
    return labels, ce


def _fused_step(cfg, student, layer, ids, targets, mask, V, hmap=None, t_hidden=None):
    """``_micro_step``'s loss on the fused path: divergence and CE in one chunked pass over hidden states
    (plus the intermediate-state loss with ``hmap``)."""
    labels, ce_labels = _labels(ids, mask)
    entry = DIVERGENCES[cfg.loss]
    s_hidden = None
    s_lin = linear_logits(student, layer, ids, V, all_hidden=hmap is not None)
    if hmap is not None:
        s_lin, s_hidden = s_lin
    res = fused_linear_loss(cfg.loss, s_lin, targets, temperature=cfg.temperature,
                            labels=labels, chunk_size=cfg.chunk_size,
                            ce_labels=ce_labels if cfg.ce_weight > 0 else None, ce_weight=cfg.ce_weight,
                            **{name: getattr(cfg, name) for name in entry.params})
    parts = {"tokens": int(ids.numel())}
    loss = res.loss if hmap is None else _add_hidden(cfg, res.loss, s_hidden, t_hidden, hmap, parts)
    parts.update(loss=loss.item(), divergence=res.divergence.item(), ce=res.ce.item())
    return loss, parts


def _to(targets, device):
    if isinstance(targets, SampledTargets):
        return SampledTargets(targets.indices.to(device), targets.counts.to(device), targets.logprobs.to(device),
                              targets.temperature)
    return TopKTargets(targets.indices.to(device), targets.logprobs.to(device), targets.tail.to(device),
                       targets.temperature)


@torch.no_grad()
def _sample(cfg, model, ids: torch.Tensor):
    """On-policy data: keep the first half of each window, let the student continue it.

    Returns (sequences (b, P + new), mask (b, P + new)) where mask marks generated tokens.
    """
    prompt = ids[:, : max(1, ids.shape[1] // 2)]
    was_training = model.training
    model.eval()
    seq = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_k=0, top_p=1.0,
                         temperature=1.0, max_new_tokens=cfg.max_new_tokens, min_new_tokens=cfg.max_new_tokens,
                         pad_token_id=model.config.eos_token_id or 0)
    model.train(was_training)
    mask = torch.zeros_like(seq, dtype=torch.bool)
    mask[:, prompt.shape[1]:] = True
    return seq, mask
