"""`distill lm capture`: run the teacher over a corpus once and keep its top-k (or sampled) targets on disk."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Literal

import torch

from distill.config import check, doc, settings
from distill.hashing import sha256_file, sha256_files
from distill.lm.compat import tokenizer_fingerprint
from distill.lm.corpus import pack_windows
from distill.lm.models import load_model, load_tokenizer, resolve
from distill.lm.options import CORPUS_HELP, CorpusOptions, TeacherModelOptions
from distill.losses import sample_counts
from distill.progress import bar as progress_bar
from distill.results import Result
from distill.targets.store import (
    CAPTURE_KEYS,
    CROSS_FORMAT,
    FORMAT,
    HYBRID_FORMAT,
    TARGET_KINDS,
    Manifest,
    StoreError,
    _entry,
    cross_of,
    hybrid_of,
    merge_manifests,
    shard_name,
    topk_of,
    write_cross_shard,
    write_hybrid_shard,
    write_sampled_shard,
    write_shard,
)

log = logging.getLogger(__name__)


@settings
class CaptureConfig(CorpusOptions, TeacherModelOptions):
    """Settings of `distill lm capture`: teacher and corpus (:mod:`distill.lm.options`), what is stored, where."""

    data: str = doc(CORPUS_HELP, default="", group="models and data", required=True)
    targets_kind: str = doc(
        "topk: the k most likely tokens and the tail mass; sampled: --samples draws from the teacher with their "
        "counts (Sparse Logit Sampling: an unbiased estimate of the forward-KL gradient); hybrid: the top k "
        "exactly plus --samples draws from the rest (unbiased, no noise on the head); cross: the top k of a "
        "teacher whose tokenizer differs from --student's, for `lm train --cross-tokenizer`; `distill list targets`",
        default="topk", choices=TARGET_KINDS.names())
    student: str = doc("cross: the student (model folder or embedded name) whose tokenizer cuts the windows; the "
                       "teacher reads the same characters in its own tokens", default="", group="models and data")
    teachers: tuple[str, ...] = doc("several teachers (each as --teacher takes it, one tokenizer), replacing "
                                    "--teacher: the store holds their mixture position by position with "
                                    "--teacher-weights (mix_teachers, exact at every temperature), so its top k is "
                                    "the mixture's", default=(), group="models and data")
    teacher_weights: tuple[float, ...] = doc("--teachers: one mixing weight per teacher (default: equal)",
                                             default=(), group="models and data", ge=0)
    top_k: int = doc("topk, hybrid, cross: teacher tokens kept exactly per position", default=64, ge=1)
    samples: int = doc("sampled: draws per position; hybrid: draws from outside the top k (the distinct ones are "
                       "stored with their counts)", default=64, ge=1, le=65535)
    seed: int = doc("sampled, hybrid: seed of the draws (the same seed gives the same store)", default=0)
    temperature: float = doc("capture temperature (1: the teacher's own distribution; tempering at train "
                             "time is exact inside the top k; sampled targets train without bias at this "
                             "temperature)", default=1.0, gt=0)
    window: int = doc("tokens per window (sequence length)", default=256, group="models and data", ge=2)
    batch_size: int = doc("windows per teacher forward", default=4, ge=1)
    shard_windows: int = doc("windows per shard file", default=256, ge=1)
    encoding: Literal["compact", "raw"] = doc(
        "compact: sorted, delta-coded ids and 1/16-nat log-probs, zlib (~2 bytes per kept token); "
        "raw: uint16 ids + fp16 log-probs (4 bytes)", default="compact")
    logprob_step: float = doc("compact: log-probability quantization step in nats", default=0.0625, gt=0, le=1)
    out: str = doc("store folder", default="runs/targets")

    def __post_init__(self):
        check(not self.teacher_weights or len(self.teacher_weights) == len(self.teachers), "teacher_weights",
              self.teacher_weights, f"one weight per --teachers entry ({len(self.teachers)})")
        check(not self.teacher_weights or sum(self.teacher_weights) > 0, "teacher_weights", self.teacher_weights,
              "weights with a positive sum")
        check(not (self.teachers and self.targets_kind == "cross"), "teachers", self.teachers,
              "empty with --targets-kind cross (one teacher of another tokenizer per store)")


def weights_hash(model_path: str) -> str:
    """SHA-256 over the weight files of a model folder (a hub id hashes its name: a weaker check).

    Args:
        model_path: a model folder, or a hub id.

    Returns:
        Hex SHA-256 digest.
    """
    p = Path(model_path)
    files = sorted(list(p.glob("*.safetensors")) + list(p.glob("*.bin"))) if p.is_dir() else []
    if not files:
        return hashlib.sha256(f"hub:{model_path}".encode()).hexdigest()
    return sha256_files(files)


def corpus_fingerprint(windows: torch.Tensor) -> str:
    """SHA-256 of the packed token windows: changes with the corpus text, the tokenizer, --window and --max-windows.

    Args:
        windows: packed token ids, (N, window).

    Returns:
        Hex SHA-256 digest.
    """
    h = hashlib.sha256(f"{tuple(windows.shape)}".encode())
    h.update(windows.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def cross_fingerprint(windows: list) -> str:
    """SHA-256 of cross-tokenizer windows: both sides' token ids and character offsets, window by window.

    Args:
        windows: ``distill.lm.crosstrain.CrossWindow`` s.

    Returns:
        Hex SHA-256 digest.
    """
    h = hashlib.sha256(f"cross {len(windows)}".encode())
    for w in windows:
        for part in (w.student_ids, torch.tensor(w.student_offsets), w.teacher_ids, torch.tensor(w.teacher_offsets)):
            h.update(f"{tuple(part.shape)}".encode())
            h.update(part.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


def _cross_corpus(cfg: "CaptureConfig", t_tok) -> tuple[list, str]:
    """The windows of a cross capture (the student's tokens, the teacher's of the same characters) and the
    student's tokenizer fingerprint; refuses a missing or same-tokenizer --student."""
    from distill.lm.crosstrain import cross_windows

    if not cfg.student:
        raise ValueError("--targets-kind cross needs --student MODEL: the student whose tokenizer cuts the windows.")
    s_tok = load_tokenizer(resolve(cfg.student))
    s_hash = tokenizer_fingerprint(s_tok)
    if s_hash == tokenizer_fingerprint(t_tok):
        raise ValueError(f"--student {cfg.student} shares the teacher's tokenizer; capture --targets-kind topk "
                         "(exact, and what `lm train` reads without --cross-tokenizer).")
    return cross_windows(cfg.data, s_tok, t_tok, cfg.window, cfg.max_windows or None), s_hash


# What a resume compares, in words (the first differing one is named in the refusal).
_KEY_WORDS = {"corpus_hash": "corpus (the token windows of --data)", "teacher_hash": "teacher weights",
              "tokenizer_hash": "tokenizer", "windows_total": "number of windows (corpus or --max-windows)"}


def capture(cfg: CaptureConfig, *, rank: int = 0, world: int = 1, device=None, stop_after_shards: int | None = None):
    """Fill the store ``cfg.out``; resumable, and shareable by ``world`` processes (this is ``rank``).

    ``stop_after_shards`` stops after writing that many shards (how tests interrupt a capture).
    Returns this process's manifest; with several processes `run` merges the parts once all are done.

    Args:
        cfg: the capture settings (teacher, corpus, store folder ``out``, targets kind, sharding).
        rank: this process's index among ``world``.
        world: number of processes sharing the capture.
        device: where the teacher runs (None: chosen by the loader).
        stop_after_shards: stop after writing this many shards (None: capture all).

    Returns:
        This process's `Manifest`.

    Raises:
        StoreError: ``cfg.out`` holds a store captured with different settings or another corpus.
    """
    sources = [resolve(spec) for spec in (cfg.teachers or [cfg.teacher])]
    source, teacher_hash = _teacher_identity(cfg, sources)
    tok = load_tokenizer(sources[0])
    sampled, hybrid, cross = (cfg.targets_kind == k for k in ("sampled", "hybrid", "cross"))
    draws = sampled or hybrid
    if cross:
        xw, tok_hash = _cross_corpus(cfg, tok)
        windows, corpus_hash = torch.stack([w.student_ids for w in xw]), cross_fingerprint(xw)
    elif cfg.student:
        raise ValueError(f"--student {cfg.student} is for --targets-kind cross (a teacher of another tokenizer); "
                         f"a {cfg.targets_kind} store is cut by the teacher's own tokenizer.")
    else:
        windows = pack_windows(cfg.data, tok, cfg.window, cfg.max_windows or None)
        tok_hash, corpus_hash = tokenizer_fingerprint(tok), corpus_fingerprint(windows)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    want = Manifest(teacher=source, teacher_hash=teacher_hash, tokenizer_hash=tok_hash,
                    vocab_size=len(tok), k=cfg.samples if sampled else min(cfg.top_k, len(tok)),
                    temperature=cfg.temperature, window=cfg.window, windows_total=len(windows),
                    shard_windows=cfg.shard_windows, encoding=cfg.encoding, logprob_step=cfg.logprob_step,
                    kind=cfg.targets_kind, samples=cfg.samples if draws else 0, seed=cfg.seed if draws else 0,
                    corpus_hash=corpus_hash, corpus=str(cfg.data),
                    teacher_tokenizer_hash=tokenizer_fingerprint(tok) if cross else "",
                    format=CROSS_FORMAT if cross else HYBRID_FORMAT if hybrid else FORMAT)
    part = out / ("manifest.json" if world == 1 else f"manifest.rank{rank}.json")
    manifest = _resume(out, part, want)
    owned = [j for j in range(want.n_shards) if j % world == rank]  # each process touches only its own files
    for leftover in [part.with_name(part.name + ".tmp")] + [out / (shard_name(j) + ".tmp") for j in owned]:
        leftover.unlink(missing_ok=True)  # a write cut short by a crash
    _drop_bad_listings(out, part, manifest)
    listed = {s["index"] for s in manifest.shards}
    mine = [j for j in owned if j not in listed]
    model = None
    written = 0
    bar = progress_bar(total=sum(min(want.windows_total, (j + 1) * cfg.shard_windows) - j * cfg.shard_windows for j in mine),
               desc="capture", unit="window")
    for j in mine:
        path = out / shard_name(j)
        start, end = j * cfg.shard_windows, min(want.windows_total, (j + 1) * cfg.shard_windows)
        if path.exists():  # complete (renamed into place) but its manifest update was lost: adopt it
            entry = _adoptable(path, start, end, windows)
            if entry is not None:
                manifest.shards.append(entry)
                manifest.save(part)
                bar.update(end - start)
                continue
            path.unlink()
        if model is None:
            model = _TeacherMix([load_model(x, device=device) for x in sources], cfg)
        ids, logp, extra = [], [], []  # extra: log tail mass (topk) or counts (sampled)
        drawn = []  # hybrid: (ids, counts, log-probs) drawn from outside the top k
        # Draws: one generator per shard, seeded by (seed, shard), so a resumed capture draws the same tokens.
        gen = torch.Generator(device=model.device).manual_seed(cfg.seed * 1_000_003 + j) if draws else None
        if cross:
            entry = write_cross_shard(path, j, start, xw[start:end], _cross_rows(model, xw[start:end], tok, want,
                                      cfg.batch_size, bar), want.vocab_size, encoding=cfg.encoding,
                                      logprob_step=cfg.logprob_step)
        else:
            with torch.no_grad():
                for b in range(start, end, cfg.batch_size):
                    x = windows[b : min(b + cfg.batch_size, end)]
                    logits = model(x.to(model.device), want.vocab_size)  # (b, L, V): padded rows dropped
                    if sampled:
                        full = (logits.float() / cfg.temperature).log_softmax(-1)  # (b, L, V)
                        i, c = sample_counts(full, cfg.samples, gen)  # (b, L, samples) each
                        lp, t = full.gather(-1, i), c
                    elif hybrid:
                        i, lp, t, *rest = hybrid_of(logits, cfg.top_k, cfg.samples, cfg.temperature, gen)
                        drawn.append([x.cpu() for x in rest])
                    else:
                        i, lp, t = topk_of(logits, cfg.top_k, cfg.temperature)
                    ids.append(i.cpu())
                    logp.append(lp.cpu())
                    extra.append(t.cpu())
                    bar.update(len(x))
            if hybrid:
                t_ids, t_counts, t_lp = (torch.cat(parts) for parts in zip(*drawn, strict=True))
                entry = write_hybrid_shard(path, j, start, windows[start:end], torch.cat(ids), torch.cat(logp),
                                           torch.cat(extra), t_ids, t_counts, t_lp, want.vocab_size,
                                           encoding=cfg.encoding, logprob_step=cfg.logprob_step)
            elif sampled:
                entry = write_sampled_shard(path, j, start, windows[start:end], torch.cat(ids), torch.cat(extra),
                                            torch.cat(logp), want.vocab_size, encoding=cfg.encoding,
                                            logprob_step=cfg.logprob_step)
            else:
                entry = write_shard(path, j, start, windows[start:end], torch.cat(ids), torch.cat(logp),
                                    torch.cat(extra), want.vocab_size, encoding=cfg.encoding,
                                    logprob_step=cfg.logprob_step)
        manifest.shards.append(entry)
        manifest.save(part)
        written += 1
        if stop_after_shards is not None and written >= stop_after_shards:
            bar.close()
            return manifest
    bar.close()
    return manifest  # with several processes, `run` merges the parts once every process is done


def _teacher_identity(cfg: "CaptureConfig", sources: list[str]) -> tuple[str, str]:
    """(the manifest's teacher name, its weights hash): one teacher's own, or for a mixture both built from
    every teacher and its normalized weight (another mixture is another teacher); refuses teachers whose
    tokenizers differ."""
    if len(sources) == 1:
        return sources[0], weights_hash(sources[0])
    prints = [tokenizer_fingerprint(load_tokenizer(x)) for x in sources]
    if len(set(prints)) > 1:
        odd = next(x for x, f in zip(sources, prints, strict=True) if f != prints[0])
        raise ValueError(f"--teachers {odd} has another tokenizer than {sources[0]}; a mixture of next-token "
                         "distributions needs one vocabulary (capture a --targets-kind cross store per teacher).")
    w = list(cfg.teacher_weights) or [1.0] * len(sources)
    w = [x / sum(w) for x in w]
    name = "mix(" + ", ".join(f"{x} × {v:.6g}" for x, v in zip(sources, w, strict=True)) + ")"
    blob = json.dumps([[weights_hash(x), round(v, 12)] for x, v in zip(sources, w, strict=True)])
    return name, hashlib.sha256(blob.encode()).hexdigest()


class _TeacherMix:
    """The capture's teacher: one model's logits, or the ``mix_teachers`` logits of several (whose tempered
    softmax is the weighted mixture, so the store's top k is the mixture's)."""

    def __init__(self, models: list, cfg: "CaptureConfig"):
        self.models, self.cfg = models, cfg
        self.device = models[0].device

    def __call__(self, ids: torch.Tensor, V: int) -> torch.Tensor:
        from distill.losses import mix_teachers

        logits = [m(ids, use_cache=False).logits[..., :V] for m in self.models]
        if len(logits) == 1:
            return logits[0]
        return mix_teachers(logits, temperature=self.cfg.temperature, weights=list(self.cfg.teacher_weights) or None)


@torch.no_grad()
def _cross_rows(model, windows: list, tok, want: Manifest, batch_size: int, bar) -> list:
    """The teacher's ``CrossTargets`` for each cross window: its own tokens, right-padded per batch (a causal
    model's predictions for the real tokens are unchanged by padding after them)."""
    from distill.lm.crosstrain import batch

    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    rows = []
    for b in range(0, len(windows), batch_size):
        items = windows[b : b + batch_size]
        _, t_ids = batch(items, pad)
        logits = model(t_ids.to(model.device), want.vocab_size)
        for i, w in enumerate(items):
            n = len(w.teacher_ids)
            rows.append(cross_of(logits[i, : n - 1], w.teacher_ids[1:].to(logits.device), want.k, want.temperature))
        bar.update(len(items))
    return rows


def _resume(out: Path, part: Path, want: Manifest) -> Manifest:
    """The manifest to continue: the existing one if it was made by the same capture settings and corpus."""
    if not part.exists():
        return want
    have = Manifest.load(part)
    diff = [k for k in CAPTURE_KEYS if getattr(have, k) != getattr(want, k)]
    if diff:
        k = ([d for d in diff if d != "corpus_hash"] or diff)[0]  # a setting explains a new corpus hash
        old, new = getattr(have, k), getattr(want, k)
        if k == "corpus_hash" and not old:
            detail = "it was captured before stores recorded their corpus, so resuming could mix two corpora"
        elif k == "corpus_hash" and have.corpus == want.corpus:
            detail = f"{want.corpus!r} no longer holds the text it was captured from (corpus hash {old[:12]}, now {new[:12]})"
        elif k == "corpus_hash":
            detail = (f"its windows were made from {have.corpus or 'another corpus'!r} (corpus hash {old[:12]}), "
                      f"now from {want.corpus!r} ({new[:12]})")
        else:
            detail = f"{k} = {old!r}, now {new!r}"
        raise StoreError(
            f"{out} already holds a store captured with a different {', '.join(_KEY_WORDS.get(d, d) for d in diff)} "
            f"({detail}); resuming would mix the two. Use another --out, or delete it to capture again."
        )
    return have


def _drop_bad_listings(out: Path, part: Path, manifest: Manifest) -> None:
    """Unlist every shard whose file is missing or fails its checksum, so that this capture rebuilds it."""
    bad = []
    for s in manifest.shards:
        path = out / shard_name(int(s["index"]))  # never a path taken from the manifest
        if s.get("file") != path.name:
            bad.append((s, f"is listed as {s.get('file')!r}"))
        elif not path.is_file():
            bad.append((s, "is missing"))
        elif path.stat().st_size != s["bytes"] or sha256_file(path) != s["sha256"]:
            bad.append((s, "fails its checksum"))
    if not bad:
        return
    for s, why in bad:
        path = out / shard_name(int(s["index"]))
        log.warning("%s %s; capturing it again", path, why)
        path.unlink(missing_ok=True)
    drop = {id(s) for s, _ in bad}
    manifest.shards = [s for s in manifest.shards if id(s) not in drop]
    manifest.save(part)


def _adoptable(path: Path, start: int, end: int, windows: torch.Tensor) -> dict | None:
    """The listing of a complete shard file found unlisted, if it holds exactly windows [start, end) of this corpus."""
    from safetensors import safe_open

    try:
        entry = _entry(path)
        if (entry["start"], entry["end"]) != (start, end):
            return None
        with safe_open(path, "pt") as f:
            ids = f.get_tensor("input_ids")
        return entry if torch.equal(ids.long(), windows[start:end]) else None
    except Exception as e:  # a torn or foreign file: captured again
        log.warning("%s is unreadable (%s); capturing it again", path, e)
        return None


class CaptureResult(Result):
    """What `distill lm capture` returns: the store's size and kind (its ``manifest.json`` holds the rest)."""

    store: str
    windows: int
    tokens: int
    shards: int
    kind: str
    k: int
    bytes_per_token: float
    dense_fp16_bytes_per_token: int
    complete: bool

    def summary(self) -> str:
        kind = "top-" if self["kind"] in ("topk", "cross") else "sampled, draws: "
        return (f"store {self['store']}: {self['windows']} windows, {self['tokens']:,} tokens in {self['shards']} "
                f"shards, {kind}{self['k']}: {self['bytes_per_token']} bytes/token (dense fp16: "
                f"{self['dense_fp16_bytes_per_token']:,})")


def run(cfg: CaptureConfig) -> CaptureResult:
    """CLI entry: capture (in every process under `accelerate launch`), merge, and summarize.

    Args:
        cfg: the capture settings.

    Returns:
        Summary dict: ``store``, ``windows``, ``tokens``, ``shards``, ``kind``, ``k``,
        ``bytes_per_token``, ``dense_fp16_bytes_per_token``, ``complete``.
    """
    from accelerate import PartialState

    state = PartialState()
    m = capture(cfg, rank=state.process_index, world=state.num_processes, device=state.device)
    if state.num_processes > 1:
        state.wait_for_everyone()
        if state.is_main_process:
            m = merge_manifests(Path(cfg.out))
        state.wait_for_everyone()
        m = Manifest.load(Path(cfg.out) / "manifest.json")
    return CaptureResult(store=cfg.out, windows=m.windows_total, tokens=m.tokens, shards=len(m.shards), kind=m.kind,
                         k=m.k, bytes_per_token=round(m.bytes_per_token(), 2),
                         dense_fp16_bytes_per_token=2 * m.vocab_size, complete=m.complete)
