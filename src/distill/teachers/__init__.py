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

from pathlib import Path

from distill.config import check, doc, settings
from distill.teachers.base import Completion, Message, Teacher
from distill.teachers.runner import ChatRequest, RecordedTeacher, arun_chats, run_chats

__all__ = ["ChatRequest", "Completion", "Message", "RecordedTeacher", "Teacher", "TeacherOptions", "arun_chats",
           "load_teacher", "run_chats"]

SPEC_FORMS = ("'smollm2' (the embedded model), an existing Hugging Face model folder, "
              "an http:// or https:// OpenAI-compatible endpoint, or a path to a .gguf file")

# which load_teacher options each backend takes; the others are ignored, so one TeacherOptions fits all
_OPTIONS = {
    "http": {"model", "api_key_env", "timeout", "max_retries", "max_connections", "backoff_base", "backoff_cap",
             "max_retry_after", "jitter_seed"},
    "hf": {"device", "dtype", "logits_processor"},
    "gguf": {"n_ctx", "n_threads", "n_gpu_layers", "model", "logprobs"},
}


def load_teacher(spec: str, **options) -> Teacher:
    """A :class:`Teacher` for ``spec`` (see the module docstring for the accepted forms).

    Options (each backend reads its own, ignores the rest): HTTP — ``model``, ``api_key_env``, ``timeout``,
    ``max_retries``, ``max_connections``, ``backoff_base``, ``backoff_cap``; transformers — ``device``,
    ``dtype``, ``logits_processor`` (e.g. a watermark, :class:`~distill.watermark.greenlist.WatermarkProcessor`); llama.cpp — ``n_ctx``, ``n_threads``, ``n_gpu_layers``, ``logprobs``.

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
    unknown = sorted(set(options) - set().union(*_OPTIONS.values()))
    if unknown:
        raise TypeError(f"load_teacher got unknown option(s) {unknown}; known: {sorted(set().union(*_OPTIONS.values()))}.")
    spec = (spec or "").strip()

    def pick(kind):
        return {k: v for k, v in options.items() if k in _OPTIONS[kind] and v is not None}

    from distill.lm.models import EMBEDDED

    if spec in EMBEDDED:
        from distill.teachers.hf import HFTeacher

        return HFTeacher(spec, **pick("hf"))
    if spec.startswith(("http://", "https://")):
        from distill.teachers.http import HTTPTeacher

        return HTTPTeacher(spec, **pick("http"))
    if spec.lower().endswith(".gguf"):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"teacher {spec!r}: no such GGUF file.")
        from distill.teachers.llamacpp import LlamaCppTeacher

        return LlamaCppTeacher(spec, **pick("gguf"))
    if spec and Path(spec).is_dir():
        from distill.teachers.hf import HFTeacher

        return HFTeacher(spec, **pick("hf"))
    raise ValueError(f"teacher {spec!r} is not one of the accepted forms: {SPEC_FORMS}.")


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
    concurrency: int = doc("teacher calls in flight at once", default=8, ge=1)

    def __post_init__(self):
        check(bool(self.teacher.strip()), "teacher", self.teacher, SPEC_FORMS)

    def load_teacher(self, **extra) -> Teacher:
        """The teacher these options name (``extra``: further :func:`load_teacher` options, e.g. ``device``)."""
        return load_teacher(self.teacher, model=self.teacher_model, api_key_env=self.api_key_env,
                            timeout=self.timeout, max_retries=self.max_retries,
                            max_connections=max(16, 2 * self.concurrency), **extra)
