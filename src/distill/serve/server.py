"""`distill serve MODEL`: load a local model and serve it over HTTP with uvicorn."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from pathlib import Path
from typing import Literal

from distill.config import check, doc, settings
from distill.results import Result

log = logging.getLogger(__name__)


@settings
class ServeConfig:
    """Settings of `distill serve`."""

    model: str = doc("the model to serve: a Hugging Face folder, 'smollm2' (the embedded default), or a .gguf "
                     "file (served through llama.cpp: the llamacpp extra)", flag="model", default="smollm2",
                     required=True)
    host: str = doc("address to listen on (127.0.0.1: this machine only)", default="127.0.0.1")
    port: int = doc("port to listen on (0: any free port, printed at start)", default=8000, ge=0, le=65535)
    served_name: str = doc("model id clients ask for (default: 'smollm2' or the folder's name)", default="")
    api_key_env: str = doc("NAME of an environment variable holding a key clients must send as a bearer token "
                           "(empty: no key)", default="")
    device: str = doc("torch device (default: cuda when available, else cpu)", default="")
    dtype: Literal["float32", "bfloat16", "float16"] = doc("weights' dtype", default="float32")
    threads: int = doc("CPU threads generating (torch's for a folder, llama.cpp's for a .gguf; 0: the library's "
                       "choice)", default=0, ge=0)
    context: int = doc("a .gguf's context window in tokens, allocated at start (0: the file's own, at most 8,192)",
                       default=0, ge=0, group="gguf")
    gpu_layers: int = doc("a .gguf's layers offloaded to a GPU (needs a GPU build of llama-cpp-python)", default=0,
                          ge=0, group="gguf")
    max_body_bytes: int = doc("largest request body accepted (413 beyond it)", default=4 << 20, ge=1024)
    max_prompt_tokens: int = doc("longest prompt accepted, in tokens (400 beyond it; 0: the model's context); "
                                 "a prompt of more than 16 characters per token is refused before tokenizing",
                                 default=0, ge=0)
    watermark_key_env: str = doc("NAME of an environment variable holding a watermark key: answers carry a "
                                 "green-list watermark (Kirchenbauer et al. 2023) that `distill detect watermark` "
                                 "finds (the key is never logged; empty: no watermark)", default="",
                                 group="watermark")
    watermark_delta: float = doc("bias δ added to green logits", default=2.0, ge=0, group="watermark")
    watermark_gamma: float = doc("green share γ of the vocabulary", default=0.25, gt=0, lt=1, group="watermark")
    watermark_context: int = doc("previous tokens that seed the green list (h)", default=1, ge=1, group="watermark")
    antidistill: float = doc("λ of antidistillation sampling (Savani et al. 2025; 0: off): favour tokens that would "
                             "raise a proxy student's loss on --antidistill-data", default=0.0, ge=0,
                             group="antidistillation")
    proxy_student: str = doc("the proxy student (HF folder, same tokenizer as the model)", default="",
                             group="antidistillation")
    antidistill_data: str = doc("downstream texts the proxy's loss is measured on (.jsonl or text file)", default="",
                                group="antidistillation")
    antidistill_eps: float = doc("finite-difference step along the proxy's loss gradient", default=1e-2, gt=0,
                                 group="antidistillation")

    def __post_init__(self):
        if is_gguf(self.model):
            why = "a .gguf file is served by llama.cpp, which {}; serve the Hugging Face folder instead"
            check(not self.watermark_key_env, "watermark_key_env", self.watermark_key_env,
                  "empty for a .gguf model: " + why.format("runs no logits processor (the watermark)"))
            check(not self.antidistill, "antidistill", self.antidistill,
                  "0 for a .gguf model: " + why.format("runs no logits processor (antidistillation)"))
            check(self.dtype == "float32", "dtype", self.dtype, "float32 (the default) for a .gguf model: the file's "
                  "storage is chosen at export (distill export gguf --quantize f32|f16|q8_0)")
            check(self.device in ("", "cpu"), "device", self.device, "'' or 'cpu' for a .gguf model (llama.cpp "
                  "offloads to a GPU with --gpu-layers N)")
        else:
            check(not self.context, "context", self.context, "0 unless the model is a .gguf file")
            check(not self.gpu_layers, "gpu_layers", self.gpu_layers, "0 unless the model is a .gguf file "
                  "(a folder runs on --device)")
        if self.antidistill:
            check(bool(self.proxy_student and self.antidistill_data), "proxy_student", self.proxy_student,
                  "a proxy student folder and --antidistill-data when --antidistill is set")


def is_gguf(model: str) -> bool:
    """Whether ``model`` names a GGUF file (served through llama.cpp) rather than a folder or embedded name.

    Args:
        model: what the user passed as MODEL.

    Returns:
        True when it ends in ".gguf" (any case).
    """
    return model.strip().lower().endswith(".gguf")


def watermark_processor(cfg: ServeConfig):
    """The watermark the settings ask for, or None.

    Args:
        cfg: the server's settings.

    Returns:
        A :class:`~distill.watermark.greenlist.WatermarkProcessor`, or None without ``watermark_key_env``.

    Raises:
        ValueError: the variable is named but unset or empty.
    """
    if not cfg.watermark_key_env:
        return None
    from distill.watermark.greenlist import GreenList, WatermarkProcessor
    from distill.watermark.keys import read_key

    green = GreenList(read_key(cfg.watermark_key_env), cfg.watermark_gamma, cfg.watermark_context)
    log.info("watermark on: γ = %s, δ = %s, h = %d, key from $%s", cfg.watermark_gamma, cfg.watermark_delta,
             cfg.watermark_context, cfg.watermark_key_env)
    return WatermarkProcessor(green, cfg.watermark_delta)


def antidistill_processor(cfg: ServeConfig, tokenizer, device: str):
    """The antidistillation processor the settings ask for, or None when λ = 0.

    Args:
        cfg: the server's settings.
        tokenizer: the served model's tokenizer (the proxy must share it).
        device: where the proxy runs.

    Returns:
        A :class:`~distill.watermark.antidistill.AntidistillProcessor`, or None.
    """
    if not cfg.antidistill:
        return None
    from distill.lm.models import load_model
    from distill.watermark.antidistill import AntidistillProcessor, downstream_direction
    from distill.watermark.detect import read_texts

    proxy = load_model(cfg.proxy_student, device=device)
    texts = [tokenizer(t)["input_ids"][:512] for t in read_texts(cfg.antidistill_data)]
    log.info("antidistillation on: λ = %s, proxy %s, %d downstream texts", cfg.antidistill, cfg.proxy_student,
             len(texts))
    return AntidistillProcessor(proxy, downstream_direction(proxy, texts), cfg.antidistill, cfg.antidistill_eps)


def served_name(cfg: ServeConfig) -> str:
    """The model id to serve under: ``served_name`` if set, else "smollm2", the model folder's name or the .gguf
    file's stem.

    Args:
        cfg: the server's settings.

    Returns:
        The model id.
    """
    if cfg.served_name:
        return cfg.served_name
    if cfg.model == "smollm2":
        return cfg.model
    path = Path(cfg.model.rstrip("/"))
    return path.stem if is_gguf(cfg.model) else path.name


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (bound here, so ``port=0`` gets a free port we can report).

    Args:
        host: the address to listen on (IPv6 when it contains ":").
        port: the port; 0 picks a free one.

    Returns:
        The listening socket.

    Raises:
        OSError: the address cannot be bound (the message suggests another port).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        raise OSError(f"cannot listen on {host}:{port} ({e.strerror}); pick another --port.") from None
    sock.listen(2048)
    return sock


def load_engine(cfg: ServeConfig):
    """The engine that serves ``cfg.model``: llama.cpp for a .gguf file, transformers otherwise.

    Args:
        cfg: the server's settings.

    Returns:
        A :class:`~distill.teachers.llamacpp.LlamaCppEngine` or a :class:`~distill.teachers.hf.HFEngine`.

    Raises:
        FileNotFoundError: a .gguf that is not a file.
        ModuleNotFoundError: a .gguf without llama-cpp-python installed (the message names the extra).
    """
    if is_gguf(cfg.model):
        from distill.teachers.llamacpp import LlamaCppEngine

        log.info("%s: the llama.cpp engine (a .gguf file)", cfg.model)
        return LlamaCppEngine(cfg.model, n_ctx=cfg.context, n_threads=cfg.threads or None,
                              n_gpu_layers=cfg.gpu_layers)
    from distill.teachers.hf import HFEngine

    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    return HFEngine(cfg.model, device=cfg.device or None, dtype=cfg.dtype)


def build_app(cfg: ServeConfig):
    """Load the model the config names and build its app.

    Args:
        cfg: the server's settings.

    Returns:
        The FastAPI app of :func:`distill.serve.app.create_app`.

    Raises:
        ValueError: ``api_key_env`` names an unset variable.
    """
    from distill.serve.app import create_app, read_api_key

    key = read_api_key(cfg.api_key_env)
    watermark = watermark_processor(cfg)  # an unset key fails before the model loads
    engine = load_engine(cfg)
    procs = [] if is_gguf(cfg.model) else [  # a .gguf with either is refused by ServeConfig
        p for p in (antidistill_processor(cfg, engine.tokenizer, engine.device), watermark) if p]
    if procs:
        from transformers import LogitsProcessorList

        engine.logits_processor = procs[0] if len(procs) == 1 else LogitsProcessorList(procs)
    return create_app(engine, served_name(cfg), api_key=key, max_body_bytes=cfg.max_body_bytes,
                      max_prompt_tokens=cfg.max_prompt_tokens or None)


class ServerThread:
    """A uvicorn server on a background thread (tests, benchmarks, notebooks): ``url``, ``stop()``."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        """Bind, start the server thread and wait (up to 10 s) until it serves.

        Args:
            app: the ASGI app.
            host: the address to listen on.
            port: the port; 0 picks a free one (see ``port``).

        Raises:
            RuntimeError: the server did not start within 10 s.
        """
        import uvicorn

        self.sock = bind(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        for _ in range(1000):
            if self.server.started:
                break
            self.thread.join(0.01)
        if not self.server.started:
            raise RuntimeError("the server did not start within 10 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ServeResult(Result):
    """What `distill serve` returns when it stops: what it served, and where."""

    model: str
    host: str
    port: int

    def summary(self) -> str:
        return f"served {self['model']} on http://{self['host']}:{self['port']}/v1 (stopped)"


def run(cfg: ServeConfig) -> ServeResult:
    """Serve until interrupted (Ctrl-C); returns what was served.

    Args:
        cfg: the server's settings.

    Returns:
        {"model", "host", "port"}.
    """
    import uvicorn

    app = build_app(cfg)
    sock = bind(cfg.host, cfg.port)
    port = sock.getsockname()[1]
    name = served_name(cfg)
    # stderr, so that --json output on stdout stays clean; flushed so scripts can wait for it
    print(f"serving {name!r} ({app.state.engine.device}) at http://{cfg.host}:{port}/v1 — Ctrl-C stops",
          file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return ServeResult(model=name, host=cfg.host, port=port)
