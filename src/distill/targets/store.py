"""Teacher targets on disk: per position, the teacher's top-k tokens (or sampled tokens) and log-probabilities.

Layout of a store folder::

    manifest.json            what made it and what is in it (see ``Manifest``)
    shard-00000.safetensors  windows [0, S): input_ids (S, L) · ids (S, L, k) · logprobs (S, L, k) · tail (S, L)
    shard-00001.safetensors  windows [S, 2S) ...

Two encodings of the per-token targets (``tail``, the fp16 log of the probability mass
outside the top k, and ``input_ids``, int32, are stored plainly in both):
  raw      ``ids`` uint16 when the vocabulary fits (else int32) and ``logprobs`` fp16, in
           probability order: 4 bytes per kept token.
  compact  (default) per position the ids sorted ascending and delta-coded, their
           log-probabilities quantized to multiples of ``logprob_step`` nats (default 1/16:
           at most 1/32 nat off, i.e. ±3% in probability; clipped at −255·step), each
           stream split into byte planes and zlib-compressed (``ids_z`` / ``logprobs_z``).
           About 2 bytes per kept token on SmolLM2: 134 bytes/token at k = 64, against
           262 raw and 98,304 for dense fp16 logits.
The order of the k entries carries no meaning for the losses, so sorting is free.

Two kinds of targets (``Manifest.kind``; format-1 stores, which predate the field, are top-k):
  topk     as above.
  sampled  Sparse Logit Sampling (Anshumann et al. 2025): per position ``samples`` tokens drawn
           from the teacher at the capture temperature; the distinct ids with their ``counts``
           and log-probabilities (``ids`` / ``logprobs`` as above, padded with count 0; a
           shard's width is its largest number of distinct tokens, in its metadata), no tail.
           Read back as ``distill.losses.SampledTargets``.
  hybrid   (format 3) the top ``k`` tokens exactly (``ids`` / ``logprobs`` / ``tail`` as for top-k) plus
           ``samples`` draws from the rest of the distribution renormalized (``tail_ids`` /
           ``tail_logprobs`` / ``tail_counts``, stored like sampled targets). Read back as
           ``SampledTargets`` with weights p_v for the top tokens and r·c_v/samples for the drawn ones
           (r the tail mass): every token's expected weight is its probability, so the forward-KL
           gradient stays unbiased, while the head of the distribution — most of its mass — carries no
           sampling noise at all.
  cross    (format 4) a teacher whose tokenizer differs from the student's (``lm train --cross-tokenizer``):
           ``input_ids`` are the student's windows, beside them ``student_offsets`` (S, L, 2), the teacher's
           tokenization of the same characters (``teacher_ids`` (S, Lt), ``teacher_offsets`` (S, Lt, 2),
           right-padded, real lengths in ``teacher_len`` (S,)), and per teacher prediction row (Lt − 1 of
           them, row r predicting teacher token r + 1) the top k (``ids`` / ``logprobs`` as above, with
           ids in the teacher's vocabulary), ``tail`` and ``observed`` (fp32: log-probability of the
           token that came, whether in the top k or not). Read back as (``CrossWindow``,
           ``distill.crosstok.CrossTargets``); the student and teacher tokenizers' fingerprints are both
           in the manifest (``tokenizer_hash``, ``teacher_tokenizer_hash``).

Writing is crash-safe: a shard is written to a temporary name and renamed into place, and
the manifest, rewritten the same way, lists a shard only after its file is complete. A
capture killed at any moment (kill -9) and run again skips the listed shards, adopts a
complete shard whose listing was lost (its checksum, metadata and input ids are re-read), deletes
temporary files, and produces byte-identical shards. A rerun also re-verifies every listed shard
(missing or failing its checksum: captured again), and refuses a store made from another corpus
(``corpus_hash``, the SHA-256 of the token windows) or other settings (``CAPTURE_KEYS``). Several processes can capture into
one store: process r of n writes shards j with j mod n = r and its own manifest part;
``merge_manifests`` joins them.

Reading never loads the whole store: ``TargetStore`` memory-maps one shard at a time and
verifies each shard's SHA-256 the first time it opens it.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from distill.crosstok import CrossTargets
from distill.files import atomic_bytes
from distill.hashing import sha256_file
from distill.losses import SampledTargets, TopKTargets, sample_counts
from distill.registry import Registry, registry

log = logging.getLogger(__name__)

# The kinds of teacher targets a store holds (`distill lm capture --targets-kind`, `distill list targets`).
TARGET_KINDS: Registry[type] = registry(
    "target kind", where=("lm capture --targets-kind",),
    topk=(TopKTargets, "the k most likely teacher tokens with their log-probabilities, and the tail mass"),
    sampled=(SampledTargets, "draws from the teacher with their counts (Sparse Logit Sampling: an unbiased "
                             "estimate of the forward-KL gradient)"),
    hybrid=(SampledTargets, "the top k tokens exactly plus draws from the renormalized rest (unbiased at the "
                            "capture temperature, no sampling noise on the head)"),
    cross=(CrossTargets, "a teacher of another tokenizer (capture with --student): its top k per teacher token "
                         "over the student's windows, for `lm train --cross-tokenizer uld|hybrid`"))

FORMAT = 2  # 2 added ``kind`` (sampled targets); format 1 (top-k only) is still read
HYBRID_FORMAT = 3  # hybrid stores: readers of format 2 cannot read them, so they say 3
CROSS_FORMAT = 4  # cross-tokenizer stores: ragged teacher tokens beside the student's windows
READABLE = (1, 2, 3, 4)
CAPTURE_KEYS = ("corpus_hash", "teacher_hash", "tokenizer_hash", "k", "temperature", "window", "windows_total",
                "shard_windows", "encoding", "logprob_step", "kind", "samples", "seed",
                "teacher_tokenizer_hash")  # what must agree to resume or merge


class StoreError(ValueError):
    """A store is unusable as asked (wrong teacher or tokenizer, corrupt shard, ...)."""


@dataclass
class Manifest:
    """What a store holds. Every field is written to manifest.json."""

    teacher: str  # model folder or hub id
    teacher_hash: str  # SHA-256 over the teacher's weight files
    tokenizer_hash: str  # distill.lm.compat.tokenizer_fingerprint (of the student's, for a cross store)
    vocab_size: int  # logits compared (the tokenizer's size; the teacher's, for a cross store)
    k: int
    temperature: float
    window: int
    windows_total: int
    shard_windows: int
    encoding: str = "raw"  # "raw" or "compact" (see the module docstring)
    logprob_step: float = 0.0625  # compact: quantization step of the log-probabilities, in nats
    kind: str = "topk"  # a TARGET_KINDS name: "topk", "sampled" or "hybrid"
    samples: int = 0  # sampled, hybrid: draws per position
    seed: int = 0  # sampled: seed of the draws (shard j uses seed · 1,000,003 + j)
    corpus_hash: str = ""  # SHA-256 of the token windows (corpus × tokenizer × window × max windows); "" before
    corpus: str = ""  # the --data path it was captured from (information only; the hash is what is compared)
    teacher_tokenizer_hash: str = ""  # cross stores: the teacher's tokenizer fingerprint ("" otherwise)
    format: int = FORMAT
    shards: list[dict] = field(default_factory=list)  # {"index", "file", "start", "end", "sha256", "bytes", "tokens"}

    @property
    def tokens(self) -> int:
        return sum(s["tokens"] for s in self.shards)

    @property
    def complete(self) -> bool:
        return sorted(s["index"] for s in self.shards) == list(range(self.n_shards))

    @property
    def n_shards(self) -> int:
        return -(-self.windows_total // self.shard_windows)

    def bytes_per_token(self) -> float:
        return sum(s["bytes"] for s in self.shards) / max(self.tokens, 1)

    def save(self, path: Path) -> None:
        """Write the manifest as JSON atomically, shards sorted by index, with the derived totals.

        Args:
            path: the file to write (``manifest.json`` or a ``manifest.rank*.json`` part).
        """
        data = asdict(self)
        data["shards"] = sorted(self.shards, key=lambda s: s["index"])
        data["tokens"] = self.tokens
        data["bytes_per_token"] = round(self.bytes_per_token(), 2)
        atomic_bytes(path, json.dumps(data, indent=2).encode())

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        """Read a manifest written by ``save``.

        Args:
            path: the manifest file.

        Returns:
            The manifest (the derived ``tokens`` and ``bytes_per_token`` fields are dropped).

        Raises:
            StoreError: the store format is not one of ``READABLE``.
        """
        data = json.loads(path.read_text())
        data.pop("tokens", None)
        data.pop("bytes_per_token", None)
        if data.get("format") not in READABLE:
            raise StoreError(f"{path}: store format {data.get('format')} is not one this version reads "
                             f"({', '.join(map(str, READABLE))}); capture it again or upgrade distill.")
        return cls(**data)


def shard_name(index: int) -> str:
    """File name of shard ``index`` inside a store folder.

    Args:
        index: the shard's index, ≥ 0.

    Returns:
        ``shard-NNNNN.safetensors`` (index zero-padded to 5 digits).
    """
    return f"shard-{index:05d}.safetensors"


def topk_of(logits: torch.Tensor, k: int, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k of softmax(logits / T) over the last axis: ids (..., k), log-probs (..., k), log tail mass (...).

    Args:
        logits: teacher logits (..., V), any float dtype (computed in fp32).
        k: number of tokens kept per position, ≤ V.
        temperature: T > 0 dividing the logits before the softmax.

    Returns:
        (ids, logprobs, tail): ids int64 (..., k) in descending probability, their tempered
        log-probabilities float32 (..., k), and the log of the remaining mass float32 (...).
    """
    return _topk_of_logp((logits.float() / temperature).log_softmax(-1), k)


def _topk_of_logp(logp: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``topk_of`` from log-probabilities already computed."""
    values, ids = logp.topk(k, dim=-1)
    # log Σ_{v ∉ top-k} p_v, without the cancellation of log(1 − Σ top): mask the top k instead
    tail = logp.scatter(-1, ids, float("-inf")).logsumexp(-1)
    return ids, values, tail


def cross_of(logits: torch.Tensor, next_ids: torch.Tensor, k: int, temperature: float = 1.0) -> CrossTargets:
    """A teacher's rows as a cross store keeps them: top k, log tail mass, and the next token's log-probability.

    Args:
        logits: (n, V) teacher logits, row r predicting ``next_ids[r]``.
        next_ids: (n,) int64 the tokens that came.
        k: tokens kept per row, ≤ V.
        temperature: T > 0 dividing the logits before the softmax.

    Returns:
        ``CrossTargets`` on the logits' device, all float32.
    """
    logp = (logits.float() / temperature).log_softmax(-1)
    ids, values, tail = _topk_of_logp(logp, k)
    observed = logp.gather(-1, next_ids.long().unsqueeze(-1)).squeeze(-1)
    return CrossTargets(ids, values, tail, observed, temperature)


def hybrid_of(logits: torch.Tensor, k: int, samples: int, temperature: float = 1.0,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """The top k of softmax(logits / T) exactly, plus ``samples`` draws from the rest renormalized.

    Args:
        logits: teacher logits (..., V), any float dtype (computed in fp32).
        k: tokens kept exactly per position, < V.
        samples: draws per position from the distribution outside the top k.
        temperature: T > 0 dividing the logits before the softmax.
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        (ids, logprobs, tail, tail_ids, tail_counts, tail_logprobs): the top-k part as :func:`topk_of`
        returns it, then the distinct drawn ids (..., samples) ascending, their counts (Σ = samples,
        padding 0) and their tempered log-probabilities under the full distribution.

    Raises:
        ValueError: ``k`` leaves no token outside the top k.
    """
    V = logits.shape[-1]
    if not 1 <= k < V:
        raise ValueError(f"hybrid targets keep 1 ≤ k < V tokens exactly (V = {V}), got k = {k}.")
    logp = (logits.float() / temperature).log_softmax(-1)
    values, ids = logp.topk(k, dim=-1)
    rest = logp.scatter(-1, ids, float("-inf"))  # log p_v outside the top k, −inf inside
    tail = rest.logsumexp(-1)  # log r
    t_ids, t_counts = sample_counts(rest - tail.unsqueeze(-1), samples, generator)  # draws from p_v / r
    return ids, values, tail, t_ids, t_counts, logp.gather(-1, t_ids)


def hybrid_targets(ids: torch.Tensor, logprobs: torch.Tensor, tail: torch.Tensor, tail_ids: torch.Tensor,
                   tail_counts: torch.Tensor, tail_logprobs: torch.Tensor, temperature: float = 1.0) -> SampledTargets:
    """Hybrid targets as the losses read them: ``SampledTargets`` whose weights are p_v for the top tokens
    and r·c_v / N for the N draws from the rest (r = exp(tail)), so that E[weight_v] = p_v for every token.

    Args:
        ids: top-k token ids (..., k).
        logprobs: their log-probabilities (..., k) at the capture temperature.
        tail: log of the mass outside the top k (...).
        tail_ids: drawn ids (..., m); padding has count 0.
        tail_counts: their draw counts (..., m), Σ = N per position.
        tail_logprobs: their log-probabilities (..., m) under the full distribution.
        temperature: the capture temperature.

    Returns:
        ``SampledTargets`` (..., k + m) with float weights (the losses normalize them per position).
    """
    c = tail_counts.float()
    n = c.sum(-1, keepdim=True).clamp_min(1)
    r = tail.float().exp().unsqueeze(-1)  # (..., 1) the mass outside the top k
    weights = torch.cat([logprobs.float().exp(), r * c / n], -1)  # Σ = 1 up to the head's quantization
    return SampledTargets(torch.cat([ids.long(), tail_ids.long()], -1), weights,
                          torch.cat([logprobs.float(), tail_logprobs.float()], -1), temperature)


def _planes(a: np.ndarray) -> bytes:
    """Bytes of an unsigned array, most significant byte plane first (high planes are mostly
    zeros for small deltas and compress well)."""
    b = a.astype(a.dtype.newbyteorder(">")).view(np.uint8).reshape(*a.shape, a.dtype.itemsize)
    return b"".join(np.ascontiguousarray(b[..., i]).tobytes() for i in range(a.dtype.itemsize))


def _unplanes(raw: bytes, shape: tuple[int, ...], dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(dtype.itemsize, n)
    return np.ascontiguousarray(planes.T).view(dtype.newbyteorder(">")).reshape(shape).astype(dtype)


def encode_compact(ids: torch.Tensor, logprobs: torch.Tensor, step: float, vocab_size: int,
                   *, presorted: bool = False) -> tuple[bytes, bytes]:
    """(ids (..., k), log-probs (..., k)) → two zlib blobs; see the module docstring.

    ``presorted``: ids are already ascending along the last axis and their order must be kept
    (sampled targets, whose counts are stored in the same order).

    Args:
        ids: token ids (..., k), CPU.
        logprobs: their log-probabilities (..., k), ≤ 0 (−inf for padding), CPU.
        step: quantization step of the log-probabilities in nats; values clip at −255·step.
        vocab_size: vocabulary size; ids deltas are stored as uint16 when ≤ 65535, else uint32.
        presorted: see above.

    Returns:
        (ids_z, logprobs_z): zlib blobs of the delta-coded byte planes and the quantized log-probs.
    """
    id_dtype = np.uint16 if vocab_size <= 65535 else np.uint32
    order = torch.arange(ids.shape[-1]).expand_as(ids) if presorted else ids.argsort(-1)
    sid = ids.gather(-1, order).numpy().astype(np.int64)
    slp = logprobs.float().gather(-1, order).numpy()
    delta = np.diff(sid, axis=-1, prepend=0).astype(id_dtype)  # ascending ids → small, non-negative gaps
    q = np.clip(np.round(-slp / step), 0, 255).astype(np.uint8)  # −inf (padding) clips to the floor
    return zlib.compress(_planes(delta), 6), zlib.compress(q.tobytes(), 6)


def decode_compact(ids_z: bytes, lp_z: bytes, shape: tuple[int, ...], step: float, vocab_size: int):
    """Inverse of ``encode_compact``: ids int64 (..., k) ascending, log-probs float32 (..., k).

    Args:
        ids_z: the ids blob from ``encode_compact``.
        lp_z: the log-probs blob from ``encode_compact``.
        shape: shape (..., k) of the encoded arrays.
        step: the quantization step used to encode, in nats.
        vocab_size: the vocabulary size used to encode.

    Returns:
        (ids, logprobs): int64 (..., k) and float32 (..., k) tensors.
    """
    id_dtype = np.uint16 if vocab_size <= 65535 else np.uint32
    delta = _unplanes(zlib.decompress(ids_z), shape, id_dtype).astype(np.int64)
    ids = torch.from_numpy(np.cumsum(delta, axis=-1))
    q = np.frombuffer(zlib.decompress(lp_z), dtype=np.uint8).reshape(shape)
    return ids, torch.from_numpy(q.astype(np.float32) * -step)


def _encode(tensors: dict, ids: torch.Tensor, logprobs: torch.Tensor, vocab_size: int, encoding: str, step: float,
            presorted: bool = False, prefix: str = "") -> None:
    """Put the (..., k) ids and log-probs into ``tensors`` in the chosen encoding (keys after ``prefix``)."""
    if encoding == "compact":
        ids_z, lp_z = encode_compact(ids.cpu(), logprobs.cpu(), step, vocab_size, presorted=presorted)
        tensors[prefix + "ids_z"] = torch.frombuffer(bytearray(ids_z), dtype=torch.uint8)
        tensors[prefix + "logprobs_z"] = torch.frombuffer(bytearray(lp_z), dtype=torch.uint8)
    elif encoding == "raw":
        tensors[prefix + "ids"] = ids.to(torch.uint16 if vocab_size <= 65535 else torch.int32).contiguous()
        tensors[prefix + "logprobs"] = logprobs.to(torch.float16).contiguous()
    else:
        raise ValueError(f"encoding must be 'raw' or 'compact', got {encoding!r}.")


def _save(path: Path, tensors: dict, meta: dict) -> dict:
    """Write a shard atomically (temporary name, fsync, rename); return its manifest entry."""
    # One metadata key: safetensors writes several in a random order, which would make
    # identical shards differ byte for byte (and so by checksum).
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata={"distill": json.dumps(meta)})
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return _entry(path)


def _topk_tensors(input_ids, ids, logprobs, tail, vocab_size: int, encoding: str, step: float) -> dict:
    """A shard's windows and top-k part (ids, log-probs, log tail mass) as tensors in ``encoding``."""
    tensors = {"input_ids": input_ids.to(torch.int32).contiguous(), "tail": tail.to(torch.float16).contiguous()}
    _encode(tensors, ids, logprobs, vocab_size, encoding, step)
    return tensors


def write_shard(path: Path, index: int, start: int, input_ids: torch.Tensor, ids: torch.Tensor,
                logprobs: torch.Tensor, tail: torch.Tensor, vocab_size: int, *, encoding: str = "raw",
                logprob_step: float = 0.0625) -> dict:
    """Write one top-k shard atomically; return its manifest entry.

    Args:
        path: the shard file (named by ``shard_name``); written under ``path.tmp`` and renamed.
        index: the shard's index.
        start: index of the shard's first window in the store.
        input_ids: token windows (S, L).
        ids: top-k token ids (S, L, k).
        logprobs: their log-probabilities (S, L, k).
        tail: log of the mass outside the top k (S, L).
        vocab_size: vocabulary size (chooses uint16 or wider ids).
        encoding: "raw" or "compact" (see the module docstring).
        logprob_step: quantization step of the compact encoding, in nats.

    Returns:
        The manifest entry: {"index", "file", "start", "end", "sha256", "bytes", "tokens"}.

    Raises:
        ValueError: ``encoding`` is neither "raw" nor "compact".
    """
    tensors = _topk_tensors(input_ids, ids, logprobs, tail, vocab_size, encoding, logprob_step)
    return _save(path, tensors, {"index": index, "start": start, "end": start + len(input_ids)})


def write_sampled_shard(path: Path, index: int, start: int, input_ids: torch.Tensor, ids: torch.Tensor,
                        counts: torch.Tensor, logprobs: torch.Tensor, vocab_size: int, *, encoding: str = "compact",
                        logprob_step: float = 0.0625) -> dict:
    """Write one shard of sampled targets atomically (ids ascending per position, padding at the end
    with count 0); return its manifest entry.

    Args:
        path: the shard file (named by ``shard_name``); written under ``path.tmp`` and renamed.
        index: the shard's index.
        start: index of the shard's first window in the store.
        input_ids: token windows (S, L).
        ids: distinct sampled ids (S, L, m), ascending per position.
        counts: how often each was drawn (S, L, m); 0 marks padding.
        logprobs: their log-probabilities (S, L, m).
        vocab_size: vocabulary size (chooses uint16 or wider ids).
        encoding: "compact" or "raw" (see the module docstring).
        logprob_step: quantization step of the compact encoding, in nats.

    Returns:
        The manifest entry: {"index", "file", "start", "end", "sha256", "bytes", "tokens"}. The
        shard stores only the widest position's number of distinct ids.

    Raises:
        ValueError: ``encoding`` is neither "raw" nor "compact".
    """
    tensors = {"input_ids": input_ids.to(torch.int32).contiguous()}
    meta = _encode_draws(tensors, ids, counts, logprobs, vocab_size, encoding, logprob_step)
    return _save(path, tensors, {"index": index, "start": start, "end": start + len(input_ids)} | meta)


def _encode_draws(tensors: dict, ids: torch.Tensor, counts: torch.Tensor, logprobs: torch.Tensor, vocab_size: int,
                  encoding: str, step: float, prefix: str = "") -> dict:
    """Put drawn (ids, counts, log-probs) (..., m) into ``tensors``; return the shard metadata they need
    (``width``: the widest position's number of distinct ids; ``count_bytes``)."""
    width = max(1, int((counts > 0).sum(-1).max()))  # padding is at the end: keep the widest position
    ids, counts, logprobs = ids[..., :width], counts[..., :width], logprobs[..., :width]
    one_byte = int(counts.max()) <= 255
    _encode(tensors, ids, logprobs, vocab_size, encoding, step, presorted=True, prefix=prefix)
    if encoding == "compact":
        c = counts.cpu().numpy().astype(np.uint8 if one_byte else np.uint32)
        tensors[prefix + "counts_z"] = torch.frombuffer(bytearray(zlib.compress(_planes(c), 6)), dtype=torch.uint8)
    else:
        tensors[prefix + "counts"] = counts.to(torch.uint8 if one_byte else torch.int32).contiguous()
    return {prefix + "width": width, prefix + "count_bytes": 1 if one_byte else 4}


def write_hybrid_shard(path: Path, index: int, start: int, input_ids: torch.Tensor, ids: torch.Tensor,
                       logprobs: torch.Tensor, tail: torch.Tensor, tail_ids: torch.Tensor, tail_counts: torch.Tensor,
                       tail_logprobs: torch.Tensor, vocab_size: int, *, encoding: str = "compact",
                       logprob_step: float = 0.0625) -> dict:
    """Write one shard of hybrid targets atomically (a top-k part and a sampled part); return its manifest entry.

    Args:
        path: the shard file (named by ``shard_name``); written under ``path.tmp`` and renamed.
        index: the shard's index.
        start: index of the shard's first window in the store.
        input_ids: token windows (S, L).
        ids: top-k token ids (S, L, k).
        logprobs: their log-probabilities (S, L, k).
        tail: log of the mass outside the top k (S, L).
        tail_ids: distinct ids drawn from the rest (S, L, m), ascending per position, padding at the end.
        tail_counts: how often each was drawn (S, L, m); 0 marks padding.
        tail_logprobs: their log-probabilities (S, L, m).
        vocab_size: vocabulary size (chooses uint16 or wider ids).
        encoding: "compact" or "raw" (see the module docstring).
        logprob_step: quantization step of the compact encoding, in nats.

    Returns:
        The manifest entry: {"index", "file", "start", "end", "sha256", "bytes", "tokens"}.

    Raises:
        ValueError: ``encoding`` is neither "raw" nor "compact".
    """
    tensors = _topk_tensors(input_ids, ids, logprobs, tail, vocab_size, encoding, logprob_step)
    meta = _encode_draws(tensors, tail_ids, tail_counts, tail_logprobs, vocab_size, encoding, logprob_step,
                         prefix="tail_")
    return _save(path, tensors, {"index": index, "start": start, "end": start + len(input_ids)} | meta)


def write_cross_shard(path: Path, index: int, start: int, windows: list, rows: list, vocab_size: int, *,
                      encoding: str = "compact", logprob_step: float = 0.0625) -> dict:
    """Write one shard of a cross-tokenizer store atomically (see the module docstring); return its entry.

    Args:
        path: the shard file (named by ``shard_name``); written under ``path.tmp`` and renamed.
        index: the shard's index.
        start: index of the shard's first window in the store.
        windows: the shard's ``distill.lm.crosstrain.CrossWindow`` s (student windows all of one length L).
        rows: per window, ``CrossTargets`` of its len(teacher_ids) − 1 prediction rows (all with one k).
        vocab_size: the teacher's vocabulary size (chooses uint16 or wider ids).
        encoding: "compact" or "raw" (see the module docstring).
        logprob_step: quantization step of the compact encoding, in nats.

    Returns:
        The manifest entry: {"index", "file", "start", "end", "sha256", "bytes", "tokens"}.

    Raises:
        ValueError: ``encoding`` is neither "raw" nor "compact", or a window's rows do not match its
            teacher tokens.
    """
    S, Lt = len(windows), max(len(w.teacher_ids) for w in windows)
    k = rows[0].k
    t_ids = torch.zeros(S, Lt, dtype=torch.int32)
    t_offs = torch.zeros(S, Lt, 2, dtype=torch.int32)
    ids = torch.zeros(S, Lt - 1, k, dtype=torch.long)
    lp = torch.zeros(S, Lt - 1, k)
    tail = torch.full((S, Lt - 1), float("-inf"))
    observed = torch.zeros(S, Lt - 1)
    for i, (w, r) in enumerate(zip(windows, rows, strict=True)):
        n = len(w.teacher_ids)
        if r.logprobs.shape[0] != n - 1:
            raise ValueError(f"window {start + i}: {r.logprobs.shape[0]} teacher rows for {n} teacher tokens "
                             f"(want {n - 1}: row r predicts token r + 1).")
        t_ids[i, :n] = w.teacher_ids
        t_offs[i, :n] = torch.tensor(w.teacher_offsets, dtype=torch.int32).reshape(n, 2)
        ids[i, : n - 1], lp[i, : n - 1] = r.indices, r.logprobs.float()
        tail[i, : n - 1], observed[i, : n - 1] = r.tail.float(), r.observed.float()
    tensors = {"input_ids": torch.stack([w.student_ids for w in windows]).to(torch.int32).contiguous(),
               "student_offsets": torch.tensor([w.student_offsets for w in windows], dtype=torch.int32),
               "teacher_ids": t_ids, "teacher_offsets": t_offs,
               "teacher_len": torch.tensor([len(w.teacher_ids) for w in windows], dtype=torch.int32),
               "tail": tail.to(torch.float16).contiguous(), "observed": observed.contiguous()}
    _encode(tensors, ids, lp, vocab_size, encoding, logprob_step)
    return _save(path, tensors, {"index": index, "start": start, "end": start + S})


def _cross_item(t: dict[str, torch.Tensor], row: int, temperature: float):
    """(CrossWindow, CrossTargets) of one window of an opened cross shard."""
    from distill.lm.crosstrain import CrossWindow

    n = int(t["teacher_len"][row])
    window = CrossWindow(t["input_ids"][row].long(), [tuple(o) for o in t["student_offsets"][row].tolist()],
                         t["teacher_ids"][row, :n].long(), [tuple(o) for o in t["teacher_offsets"][row, :n].tolist()])
    return window, CrossTargets(t["ids"][row, : n - 1].long(), t["logprobs"][row, : n - 1].float(),
                                t["tail"][row, : n - 1].float(), t["observed"][row, : n - 1].float(), temperature)


def _entry(path: Path) -> dict:
    with safe_open(path, "pt") as f:
        meta = json.loads(f.metadata()["distill"])
        n, L = f.get_slice("input_ids").get_shape()
    return {"index": int(meta["index"]), "file": path.name, "start": int(meta["start"]), "end": int(meta["end"]),
            "sha256": sha256_file(path), "bytes": path.stat().st_size, "tokens": n * L}


class TargetStore:
    """Streaming reader of a target store (top-k, sampled, hybrid or cross).

    ``store[i]`` → (input_ids (L,) int64, TopKTargets with (L, k) ids / log-probs and (L,) tail),
    or SampledTargets with (L, m) ids / counts / log-probs for a sampled store; for a cross store,
    (``CrossWindow``, ``CrossTargets`` with (Lt − 1, k) rows).
    ``store.batches(batch_size, seed=...)`` yields (input_ids (B, L), targets (B, L, ·)),
    shard by shard (windows shuffled within a shard and shards shuffled), so that only one
    shard is mapped at a time.

    Args:
        path: the store folder (holding ``manifest.json``).
        teacher_hash: if given, the store must have been captured from a teacher with this hash.
        tokenizer_hash: if given, the store's tokenizer fingerprint must equal it.
        verify: check each shard's SHA-256 the first time it is opened.

    Raises:
        StoreError: no manifest, another teacher or tokenizer, or missing shards; on reading, a
            shard that is missing, misnamed in the manifest or fails its checksum.
    """

    def __init__(self, path: str | Path, *, teacher_hash: str | None = None, tokenizer_hash: str | None = None,
                 verify: bool = True):
        self.path = Path(path)
        mf = self.path / "manifest.json"
        if not mf.exists():
            raise StoreError(f"{self.path} is not a target store (no manifest.json); make one with `distill lm capture`.")
        self.manifest = Manifest.load(mf)
        m = self.manifest
        if teacher_hash is not None and teacher_hash != m.teacher_hash:
            raise StoreError(f"{self.path} was captured from another teacher ({m.teacher}, weights {m.teacher_hash[:12]}) "
                             f"than this run's (weights {teacher_hash[:12]}); capture again with this teacher.")
        if tokenizer_hash is not None and tokenizer_hash != m.tokenizer_hash:
            raise StoreError(f"{self.path} was captured with another tokenizer ({m.tokenizer_hash[:12]}) than this "
                             f"run's ({tokenizer_hash[:12]}); capture again.")
        if not m.complete:
            missing = sorted(set(range(m.n_shards)) - {s["index"] for s in m.shards})
            raise StoreError(f"{self.path} is incomplete: shards {missing[:10]} missing; rerun the same "
                             "`distill lm capture` command to finish it.")
        self.shards = sorted(m.shards, key=lambda s: s["index"])
        self.verify = verify
        self._verified: set[int] = set()
        self._cache: dict[int, dict[str, torch.Tensor]] = {}  # the last two shards read (random access)

    def __len__(self) -> int:
        return self.manifest.windows_total

    def _open(self, shard: dict) -> dict[str, torch.Tensor]:
        if shard["index"] in self._cache:
            return self._cache[shard["index"]]
        if shard["file"] != shard_name(int(shard["index"])):  # never read a path the manifest makes up
            raise StoreError(f"{self.path}/manifest.json lists shard {shard['index']} as {shard['file']!r}, not "
                             f"{shard_name(int(shard['index']))!r}; rerun the same `distill lm capture` to rebuild it.")
        path = self.path / shard["file"]
        if not path.exists():
            raise StoreError(f"shard {path} is missing; rerun the same `distill lm capture` to rebuild it.")
        if self.verify and shard["index"] not in self._verified:
            if sha256_file(path) != shard["sha256"]:
                raise StoreError(f"shard {path} fails its checksum (corrupt or modified); rerun the same "
                                 "`distill lm capture`, which rebuilds it.")
            self._verified.add(shard["index"])
        with safe_open(path, "pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads(f.metadata()["distill"])
        m = self.manifest
        for prefix in ("", "tail_"):
            # sampled shards: the most distinct tokens at any position; top-k shards: k
            width = meta.get(prefix + "width", m.k)
            if prefix + "ids_z" in tensors:
                rows = tensors["tail"].shape if m.kind == "cross" else tensors["input_ids"].shape
                shape = (*rows, width)
                tensors[prefix + "ids"], tensors[prefix + "logprobs"] = decode_compact(
                    tensors.pop(prefix + "ids_z").numpy().tobytes(), tensors.pop(prefix + "logprobs_z").numpy().tobytes(),
                    shape, m.logprob_step, m.vocab_size)
            if prefix + "counts_z" in tensors:
                c_dtype = np.uint8 if meta.get(prefix + "count_bytes", 1) == 1 else np.uint32
                raw = zlib.decompress(tensors.pop(prefix + "counts_z").numpy().tobytes())
                tensors[prefix + "counts"] = torch.from_numpy(
                    _unplanes(raw, (*tensors["input_ids"].shape, width), c_dtype).astype(np.int64))
        if len(self._cache) >= 2:
            self._cache.pop(next(iter(self._cache)))
        self._cache[shard["index"]] = tensors
        return tensors

    def _targets(self, t: dict[str, torch.Tensor], rows) -> tuple[torch.Tensor, TopKTargets | SampledTargets]:
        if self.manifest.kind == "cross":
            if not isinstance(rows, int):
                raise StoreError(f"{self.path} is a cross-tokenizer store: read it window by window (store[i]); "
                                 "its windows' teacher tokens differ in number, so they do not stack.")
            return _cross_item(t, rows, self.manifest.temperature)
        if self.manifest.kind == "hybrid":
            return (t["input_ids"][rows].long(),
                    hybrid_targets(t["ids"][rows], t["logprobs"][rows], t["tail"][rows].float(), t["tail_ids"][rows],
                                   t["tail_counts"][rows], t["tail_logprobs"][rows], self.manifest.temperature))
        if self.manifest.kind == "sampled":
            return (t["input_ids"][rows].long(),
                    SampledTargets(t["ids"][rows].long(), t["counts"][rows].long(), t["logprobs"][rows].float(),
                                   self.manifest.temperature))
        return (t["input_ids"][rows].long(),
                TopKTargets(t["ids"][rows].long(), t["logprobs"][rows].float(), t["tail"][rows].float().exp(),
                            self.manifest.temperature))  # stored tempered: the loss must not temper again

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        shard = self.shards[i // self.manifest.shard_windows]
        return self._targets(self._open(shard), i - shard["start"])

    def batches(self, batch_size: int, *, seed: int | None = None, drop_last: bool = False):
        """Iterate over the store in batches, one shard mapped at a time.

        Args:
            batch_size: windows per batch B; a shard's last batch may be smaller.
            seed: with a seed, shards and windows within each shard are shuffled reproducibly; None
                reads in store order.
            drop_last: skip each shard's short last batch.

        Yields:
            (input_ids (B, L) int64, targets): ``TopKTargets`` (B, L, k) or ``SampledTargets`` (B, L, m).
        """
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        order = torch.randperm(len(self.shards), generator=g).tolist() if g else range(len(self.shards))
        for j in order:
            t = self._open(self.shards[j])
            n = len(t["input_ids"])
            rows = torch.randperm(n, generator=g) if g else torch.arange(n)
            for b in range(0, n, batch_size):
                sel = rows[b : b + batch_size]
                if drop_last and len(sel) < batch_size:
                    break
                yield self._targets(t, sel)

    def bytes_per_token(self) -> float:
        return self.manifest.bytes_per_token()




class StoreSet:
    """Several target stores read as one, window after window: the windows of the first, then the second's, …
    Each window keeps its own store's targets, so a run over the set trains every example on the teacher
    that captured it (multi-teacher routing from stores; one store: that store).

    Args:
        paths: the store folders, in order.
        tokenizer_hash: if given, every store's tokenizer fingerprint must equal it.
        verify: check each shard's SHA-256 the first time it is opened.

    Raises:
        StoreError: no paths, a store unusable on its own (see ``TargetStore``), or stores that disagree on
            what a batch must share (kind, k, temperature, window, vocabulary, tokenizers).
    """

    SHARED = ("kind", "k", "temperature", "window", "vocab_size", "tokenizer_hash", "teacher_tokenizer_hash")
    # cross stores are read window by window (never stacked), so their teachers may differ in k and tokenizer
    SHARED_CROSS = ("kind", "temperature", "window", "tokenizer_hash")

    def __init__(self, paths, *, tokenizer_hash: str | None = None, verify: bool = True):
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        if not paths:
            raise StoreError("no target store given.")
        self.stores = [TargetStore(p, tokenizer_hash=tokenizer_hash, verify=verify) for p in paths]
        first = self.stores[0].manifest
        shared = self.SHARED_CROSS if first.kind == "cross" else self.SHARED
        for st in self.stores[1:]:
            diff = [k for k in shared if getattr(st.manifest, k) != getattr(first, k)]
            if diff:
                k = diff[0]
                raise StoreError(f"{st.path} and {self.stores[0].path} differ in {k} ({getattr(st.manifest, k)!r} vs "
                                 f"{getattr(first, k)!r}); stores trained together must share "
                                 f"{', '.join(shared)}: capture them with the same settings.")
        self.manifest = first  # the settings they share (per-store details: self.stores[i].manifest)
        self._starts = [0]
        for st in self.stores:
            self._starts.append(self._starts[-1] + len(st))

    def __len__(self) -> int:
        return self._starts[-1]

    def store_of(self, i: int) -> int:
        """The index of the store window ``i`` comes from.

        Args:
            i: a window index of the set.

        Returns:
            The position of its store in ``paths``.
        """
        if not 0 <= i < len(self):
            raise IndexError(i)
        return bisect.bisect_right(self._starts, i) - 1

    def __getitem__(self, i: int):
        j = self.store_of(i)
        return self.stores[j][i - self._starts[j]]


def stack_targets(targets: list) -> TopKTargets | SampledTargets:
    """Stack per-window targets (each (L, ·)) into a batch (B, L, ·), padding sampled widths with count 0.

    Args:
        targets: per-window ``TopKTargets`` or ``SampledTargets``, all of one kind, each (L, ·).

    Returns:
        The batch, (B, L, ·); sampled targets are padded to the widest (count 0, log-prob −inf).

    Raises:
        ValueError: top-k targets captured at different temperatures.
    """
    if isinstance(targets[0], TopKTargets):
        if len({t.temperature for t in targets}) > 1:
            raise ValueError("stack_targets: the targets were captured at different temperatures "
                             f"{sorted({t.temperature for t in targets})}; stack targets of one store.")
        return TopKTargets(torch.stack([t.indices for t in targets]), torch.stack([t.logprobs for t in targets]),
                           torch.stack([t.tail for t in targets]), targets[0].temperature)
    width = max(t.k for t in targets)

    def pad(x, value):
        return torch.nn.functional.pad(x, (0, width - x.shape[-1]), value=value)

    return SampledTargets(torch.stack([pad(t.indices, 0) for t in targets]),
                          torch.stack([pad(t.counts, 0) for t in targets]),
                          torch.stack([pad(t.logprobs, float("-inf")) for t in targets]), targets[0].temperature)


def merge_manifests(store: Path) -> Manifest:
    """Join the per-process manifest parts (manifest.rank*.json) into manifest.json.

    Args:
        store: the store folder.

    Returns:
        The merged manifest, also written to ``store/manifest.json``.

    Raises:
        StoreError: no parts, or parts that disagree on a ``CAPTURE_KEYS`` setting.
    """
    parts = sorted(store.glob("manifest.rank*.json"))
    if not parts:
        raise StoreError(f"{store} has no manifest parts to merge.")
    manifests = [Manifest.load(p) for p in parts]
    base = manifests[0]
    for m in manifests[1:]:
        if any(getattr(m, key) != getattr(base, key) for key in CAPTURE_KEYS):
            raise StoreError(f"manifest parts in {store} disagree about how the store was captured.")
    shards = {s["index"]: s for m in manifests for s in m.shards}
    base.shards = list(shards.values())
    base.save(store / "manifest.json")
    return base
