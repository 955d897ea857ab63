"""Teachers: one async chat interface (`Teacher`), several backends, one way to name them.

``load_teacher(spec)`` turns what a user types after ``--teacher`` into a backend:

- ``smollm2`` — the embedded SmolLM2-135M-Instruct, in process (the offline default);
- an existing folder — a transformers model, in process;
- ``http://…`` / ``https://…`` — an OpenAI-compatible endpoint (vLLM, llama.cpp server, ``distill serve``, hosted);
- a path ending ``.gguf`` — a local GGUF file through llama.cpp (the ``llamacpp`` extra).

Commands that talk to a teacher subclass :class:`TeacherOptions`, so ``--teacher``, ``--teacher-model``,
``--api-key-env``, ``--timeout``, ``--max-retries`` and ``--concurrency`` are defined once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from distill.config import check, doc, settings
from distill.registry import Registry, registry
from distill.teachers.base import Completion, Message, Teacher
from distill.teachers.runner import ChatRequest, RecordedTeacher, arun_chats, run_chats

__all__ = ["ChatRequest", "Completion", "Message", "RecordedTeacher", "Teacher", "TeacherOptions", "TEACHER_FORMS", "arun_chats",
           "load_teacher", "run_chats", "teacher_form"]

log = logging.getLogger(__name__)


def _embedded(spec: str) -> bool:
    from distill.lm.models import EMBEDDED

    return spec in EMBEDDED


def _load_hf(spec: str, **options) -> Teacher:
    from distill.teachers.hf import HFTeacher

    options.pop("backend", None)
    return HFTeacher(spec, **options)


BACKENDS = ("auto", "transformers", "llamacpp")


def _load_embedded(spec: str, *, backend: str = "auto", **options) -> Teacher:
    """The embedded model through llama.cpp when ``backend`` says so, or ("auto") when llama-cpp-python is
    installed and no GPU device was asked for; else in transformers (with dynamic batching)."""
    import importlib.util

    from distill.lm.models import embedded_gguf

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    installed = importlib.util.find_spec("llama_cpp") is not None
    on_gpu = str(options.get("device") or "").startswith("cuda")
    processor = options.get("logits_processor") is not None
    if backend == "llamacpp" and processor:
        raise ValueError(f"teacher {spec}: a logits processor (e.g. a watermark) runs in transformers only; "
                         "use --teacher-backend transformers (or auto).")
    if backend == "llamacpp" or (backend == "auto" and installed and not on_gpu and not processor):
        from distill.teachers.llamacpp import LlamaCppTeacher

        gguf = embedded_gguf(spec)
        log.info("teacher %s: llama.cpp on %s (llama-cpp-python is installed; --teacher-backend transformers "
                 "to use transformers)", spec, gguf.name)
        return LlamaCppTeacher(str(gguf), model=f"{spec}@llama.cpp")
    why = ("asked for" if backend == "transformers" else "a GPU device was asked for" if on_gpu
           else "a logits processor (watermark) applies in transformers only" if processor
           else "llama-cpp-python is not installed")
    log.info("teacher %s: transformers with dynamic batching (%s)", spec, why)
    return _load_hf(spec, **options)


def _load_http(spec: str, **options) -> Teacher:
    from distill.teachers.http import HTTPTeacher

    return HTTPTeacher(spec, **options)


def _load_gguf(spec: str, **options) -> Teacher:
    if not Path(spec).is_file():
        raise FileNotFoundError(f"teacher {spec!r}: no such GGUF file.")
    from distill.teachers.llamacpp import LlamaCppTeacher

    return LlamaCppTeacher(spec, **options)


@dataclass(frozen=True)
class TeacherForm:
    """One way to name a teacher: which specs it matches, how it loads them, the options it reads."""

    matches: Callable[[str], bool]
    load: Callable[..., Teacher]
    options: frozenset[str]
    example: str  # a spec of this form, as a user types it (the registry test resolves it)


# The forms `--teacher` accepts, tried in this order (`distill list teachers`); each backend reads its own
# load_teacher options and ignores the others, so one TeacherOptions fits all.
TEACHER_FORMS: Registry[TeacherForm] = registry(
    "teacher form", where=("docs generate --teacher", "docs eval --teacher", "detect identity --model"),
    embedded=(TeacherForm(_embedded, _load_embedded,
                          frozenset({"device", "dtype", "max_batch", "backend", "logits_processor"}),
                          "smollm2"),
              "a model shipped in a package ('smollm2', 'gemma3-270m'), in process"),
    http=(TeacherForm(lambda s: s.startswith(("http://", "https://")), _load_http,
                      frozenset({"model", "api_key_env", "timeout", "max_retries", "max_connections", "backoff_base",
                                 "backoff_cap", "max_retry_after", "jitter_seed"}), "http://127.0.0.1:8000"),
          "an OpenAI-compatible endpoint (vLLM, llama.cpp server, `distill serve`, hosted)"),
    gguf=(TeacherForm(lambda s: s.lower().endswith(".gguf"), _load_gguf,
                      frozenset({"n_ctx", "n_threads", "n_gpu_layers", "model", "logprobs"}), "model.gguf"),
          "a local GGUF file through llama.cpp (the llamacpp extra)"),
    folder=(TeacherForm(lambda s: bool(s) and Path(s).is_dir(), _load_hf,
                        frozenset({"device", "dtype", "max_batch", "logits_processor"}),
                        "runs/student/model"),
            "an existing Hugging Face model folder, in process"),
)

SPEC_FORMS = ("'smollm2' (the embedded model), an existing Hugging Face model folder, "
              "an http:// or https:// OpenAI-compatible endpoint, or a path to a .gguf file")


def teacher_form(spec: str) -> str | None:
    """Which :data:`TEACHER_FORMS` entry a ``--teacher`` value is (the first that matches).

    Args:
        spec: what the user typed.

    Returns:
        The form's name, or None when none matches.
    """
    spec = (spec or "").strip()
    return next((name for name, form in TEACHER_FORMS.items() if form.matches(spec)), None)


def load_teacher(spec: str, **options) -> Teacher:
    """A :class:`Teacher` for ``spec`` (one of :data:`TEACHER_FORMS`, tried in order).

    Options (each backend reads its own, ignores the rest): HTTP — ``model``, ``api_key_env``, ``timeout``,
    ``max_retries``, ``max_connections``, ``backoff_base``, ``backoff_cap``; transformers — ``device``,
    ``dtype``, ``max_batch``, ``logits_processor`` (e.g. a watermark, :class:`~distill.watermark.greenlist.WatermarkProcessor`;
    it forces the transformers backend); the embedded model — ``backend`` ("auto": llama.cpp when llama-cpp-python is
    installed and no GPU was asked for, else transformers; "transformers"; "llamacpp"); llama.cpp — ``n_ctx``, ``n_threads``, ``n_gpu_layers``, ``logprobs``.

    Args:
        spec: the teacher: an embedded model name, an http(s) URL, a .gguf file or an HF model folder.
        **options: backend options as listed above; None values are dropped.

    Returns:
        The teacher, loaded.

    Raises:
        TypeError: an option no backend knows.
        FileNotFoundError: a .gguf ``spec`` that is not a file.
        ValueError: ``spec`` matches none of the accepted forms.
    """
    known = set().union(*(form.options for form in TEACHER_FORMS.values()))
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"load_teacher got unknown option(s) {unknown}; known: {sorted(known)}.")
    spec = (spec or "").strip()
    name = teacher_form(spec)
    if name is None:
        raise ValueError(f"teacher {spec!r} is not one of the accepted forms: {SPEC_FORMS}.")
    form = TEACHER_FORMS[name]
    return form.load(spec, **{k: v for k, v in options.items() if k in form.options and v is not None})


@settings
class TeacherOptions:
    """How to reach the teacher. Subclass it in a command's config (``class GenerateConfig(TeacherOptions)``)
    to get the flags; a subclass with its own ``__post_init__`` calls ``super().__post_init__()``."""

    teacher: str = doc(f"teacher: {SPEC_FORMS}", default="smollm2")
    teacher_model: str = doc("model id at an HTTP endpoint (default: the first one its /v1/models lists)", default="")
    api_key_env: str = doc("NAME of the environment variable holding the endpoint's API key "
                           "(the key itself is never logged or written; empty: no key)", default="")
    timeout: float = doc("seconds per HTTP attempt before it counts as timed out and is retried", default=120.0, gt=0)
    max_retries: int = doc("retries per HTTP call (429, 5xx, timeouts, garbage bodies) before it fails", default=6, ge=0)
    concurrency: int = doc("teacher calls in flight at once (an in-process transformers teacher decodes "
                           "them as one batch)", default=8, ge=1)
    teacher_backend: Literal["auto", "transformers", "llamacpp"] = doc(
        "engine of the embedded teacher: auto = llama.cpp when llama-cpp-python is installed (CPU), "
        "else transformers", default="auto")

    def __post_init__(self):
        check(bool(self.teacher.strip()), "teacher", self.teacher, SPEC_FORMS)

    def load_teacher(self, **extra) -> Teacher:
        """The teacher these options name (``extra``: further :func:`load_teacher` options, e.g. ``device``)."""
        return load_teacher(self.teacher, model=self.teacher_model, api_key_env=self.api_key_env,
                            timeout=self.timeout, max_retries=self.max_retries,
                            max_connections=max(16, 2 * self.concurrency), backend=self.teacher_backend,
                            **extra)
