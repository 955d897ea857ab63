"""`distill lm train`: white-box distillation of a causal LM, written out on accelerate.

Each optimizer step draws a batch of windows and takes its teacher targets from one of
three places:
  * a target store (off-policy, ``--targets STORE``, top-k or sampled): no teacher in memory at all;
  * a live teacher (off-policy): the teacher runs on the same windows, dense targets;
  * the student's own samples (on-policy, with probability ``lmbda`` per step, GKD's λ):
    the student continues the first half of each window, the teacher scores the result,
    and the loss covers the generated tokens only.
The loss is any divergence of ``distill.losses`` (chunked), optionally mixed with
cross-entropy on the text: ``(1 − ce_weight) · D + ce_weight · CE``.

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

import torch
import torch.nn.functional as F

from distill.config import check, doc, settings, to_dict
from distill.files import write_results
from distill.lm.names import Loss
from distill.lm.options import (
    CORPUS_HELP,
    CheckpointOptions,
    CorpusOptions,
    EvalOptions,
    LMOptimOptions,
    TeacherModelOptions,
)
from distill.losses import DIVERGENCES, SampledTargets, TopKTargets
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
    targets: str | None = doc("target store from `distill lm capture` (top-k or sampled; off-policy, no live "
                              "teacher)", default=None, group="models and data")
    loss: Loss = doc(
        "divergence to the teacher ('ce': cross-entropy on the text only, the baseline; `distill list divergences`)",
        default="forward_kl", group="loss")
    beta: float = doc("jsd: β (0 forward KL … 1 reverse KL)", default=0.5, group="loss", ge=0, le=1)
    skew: float = doc("skew_kl / skew_rkl: α", default=0.1, group="loss", ge=0, lt=1)
    temperature: float = doc("temperature of both distributions in the divergence", default=1.0, group="loss", gt=0)
    ce_weight: float = doc("weight of cross-entropy on the text, mixed with the divergence", default=0.0, group="loss",
                           ge=0, le=1, was="alpha")
    chunk_size: int = doc("positions per loss chunk (bounds the loss's memory)", default=256, group="loss", ge=1)
    lmbda: float = doc("on-policy fraction: probability that a step trains on the student's own samples",
                       default=0.0, group="on-policy (GKD)", ge=0, le=1)
    max_new_tokens: int = doc("on-policy: tokens the student generates after half a window", default=32,
                              group="on-policy (GKD)", ge=1)
    window: int = doc("tokens per training window (with --targets: the store's window)", default=256,
                      group="models and data", ge=1)
    out: str = doc("output folder: the trained student (HF folder), metrics.csv, checkpoint/", default="runs/lm",
                   group="output")

    def __post_init__(self):
        check(bool(self.data) or bool(self.targets), "data", self.data, "a corpus path unless --targets is given")
        check(self.lmbda == 0 or not self.targets, "lmbda", self.lmbda,
              "0 with --targets (on-policy training needs a live teacher)")


# metrics.csv columns; cpu_seconds is this process's CPU time for the step: on a shared machine it
# measures the work done where wall-clock seconds also measure the neighbours.
METRICS = ["step", "loss", "divergence", "ce", "on_policy", "lr", "tokens", "seconds", "cpu_seconds", "grad_norm"]


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

    from distill.lm.compat import shared_vocab_size, tokenizer_fingerprint
    from distill.lm.corpus import chat_examples, is_chat_jsonl, pack_windows
    from distill.lm.models import load_model, load_tokenizer, resolve
    from distill.targets.store import TargetStore

    acc = Accelerator(mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.grad_accum)
    acc.register_save_state_pre_hook(_drop_tied_aliases)
    set_seed(cfg.seed)
    out = Path(cfg.out)
    s_tok = load_tokenizer(cfg.student)
    student = load_model(cfg.student)
    use_teacher = cfg.loss != "ce" and not cfg.targets
    teacher = None
    masks = None
    if cfg.targets:
        store = TargetStore(cfg.targets, tokenizer_hash=tokenizer_fingerprint(s_tok))
        takes_draws = cfg.loss != "ce" and (DIVERGENCES[cfg.loss].sampled_targets or (cfg.loss == "jsd" and cfg.beta == 0))
        if store.manifest.kind in ("sampled", "hybrid") and not takes_draws:
            raise ValueError(f"--targets {cfg.targets} holds {store.manifest.kind} targets, which estimate the forward-KL "
                             f"gradient without bias and nothing else; use --loss forward_kl (got --loss {cfg.loss}), "
                             "or a top-k store.")
        V = store.manifest.vocab_size
        if store.manifest.kind == "topk" and store.manifest.temperature != cfg.temperature and store.manifest.k < V:
            # Inside the top k re-tempering from the capture temperature is exact; the tail's tempered
            # mass is not known from its total and is approximated (see TopKTargets).
            log.warning("--targets %s was captured at temperature %g and this run trains at %g: the top-%d tokens "
                        "are re-tempered exactly, the tail mass approximately; capture at --temperature %g for "
                        "exact targets.", cfg.targets, store.manifest.temperature, cfg.temperature,
                        store.manifest.k, cfg.temperature)
        windows = None
        n_windows = len(store)
    else:
        store = None
        if use_teacher:
            t_path = resolve(cfg.teacher)
            teacher = load_model(t_path, device=acc.device)
            V = shared_vocab_size(load_tokenizer(t_path), s_tok, teacher.config.vocab_size,
                                  student.config.vocab_size)
        else:  # cross-entropy on text only (the baseline, black-box data): no teacher, any tokenizer
            V = student.config.vocab_size
        if is_chat_jsonl(cfg.data):  # chat data (e.g. a docs data set): loss on the replies only
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
    recipe = _LMRecipe(cfg, acc, student, teacher, store, windows, masks, V, batches, global_micro, local)
    clock = {"t": time.time(), "c": time.process_time()}

    def on_step(step: int, stats: dict, lr: float) -> None:
        row = [step, f"{stats['loss']:.6f}", f"{stats['divergence']:.6f}", f"{stats['ce']:.6f}",
               int(recipe.on_policy), f"{lr:.3e}", int(stats["tokens"]), f"{time.time() - clock['t']:.3f}",
               f"{time.process_time() - clock['c']:.3f}", f"{stats.get('grad_norm', float('nan')):.6g}"]
        writer.writerow(row)
        mfile.flush()
        if tb is not None:  # the same numbers as the CSV row (as written, so the two agree exactly)
            for name, value in zip(METRICS[1:], row[1:], strict=True):
                tb.add_scalar(f"train/{name}", float(value), step)
        clock.update(t=time.time(), c=time.process_time())

    held_out = _held_out(cfg, s_tok) if cfg.eval_every else None

    def evaluate(step: int) -> dict:
        res = evaluate_windows(acc.unwrap_model(student), teacher, held_out, V, acc.device, cfg.batch_size)
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
                         last_loss=r.last.get("loss"), out=str(out), config=to_dict(cfg))
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
    source = f"target store {c['targets']}" if c.get("targets") else f"teacher {c['teacher']}"
    lines = [f"# distill lm train: {res['steps']} steps in {res['seconds']:.0f} s", "",
             "| | |", "|---|---|", f"| student | {c['student']} |", f"| loss | {loss} |",
             f"| targets | {'text only' if c['loss'] == 'ce' else source} |",
             f"| on-policy fraction λ | {c['lmbda']:g} |",
             f"| batch | {c['batch_size']} × {c['window']} tokens, {c['grad_accum']} micro-batch(es) |",
             f"| trained model | {res.get('model', '(not finished)')} |",
             f"| per-step metrics | {res['out']}/metrics.csv |"]
    return "\n".join(lines) + "\n"


class _LMRecipe:
    """LM distillation on the loop: ``grad_accum`` micro-batches per step from a seeded permutation per
    epoch, each process its shard; whether a step is on-policy is drawn from (seed, step)."""

    def __init__(self, cfg, acc, student, teacher, store, windows, masks, V, batches, global_micro, local):
        self.cfg, self.acc, self.student, self.teacher, self.store = cfg, acc, student, teacher, store
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
        return _micro_step(self.cfg, self.acc, self.student, self.teacher, self.store, self.windows, rows, self.V,
                           self.on_policy, self.masks)

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


def _micro_step(cfg, acc, student, teacher, store, windows, rows, V, on_policy, masks=None):
    """Loss of one micro-batch and its parts (floats) for the metrics.

    ``masks`` (chat data): True on the tokens whose prediction counts (the replies), per window.
    """
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
        if teacher is not None:
            with torch.no_grad():
                targets = teacher(ids, use_cache=False).logits[..., :V].float()  # (b, L, V)
    logits = student(ids, use_cache=False).logits[..., :V]  # (b, L, V); no KV cache while training
    parts = {"tokens": int(ids.numel())}
    ce = text_ce(logits, ids, mask) if (cfg.ce_weight > 0 or cfg.loss == "ce") else None
    if cfg.loss == "ce":
        loss = ce
        div = torch.zeros(())
    else:
        # Positions t predict token t + 1; on-policy (or chat data), only positions whose next token was
        # generated (is part of a reply) count.
        labels = None
        if mask is not None:
            labels = torch.zeros_like(ids)
            labels[:, :-1][~mask[:, 1:]] = -100
            labels[:, -1] = -100
        div = divergence(cfg, logits, targets, labels)
        loss = div if ce is None else (1 - cfg.ce_weight) * div + cfg.ce_weight * ce
    parts.update(loss=loss.item(), divergence=div.item(), ce=0.0 if ce is None else ce.item())
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
