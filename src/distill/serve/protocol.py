"""The OpenAI request bodies `distill serve` accepts, validated at the door, and its error format."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class APIError(Exception):
    """An OpenAI-style error: ``{"error": {"message", "type", "param", "code"}}`` with an HTTP status."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error"):
        """An error to answer with.

        Args:
            status: the HTTP status, e.g. 400.
            message: what went wrong, for the client.
            param: the request field at fault, or None.
            code: a machine-readable code (e.g. "context_length_exceeded"), or None.
            type: the OpenAI error type, e.g. "invalid_request_error", "authentication_error".
        """
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _utf8(v):
    """Refuse text that cannot be encoded as UTF-8 (a lone surrogate such as \\ud800 from a JSON escape)."""
    for s in [v] if isinstance(v, str) else (v or []):
        if not isinstance(s, str):
            continue
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"the text holds a lone surrogate {s[e.start]!r} (U+{ord(s[e.start]):04X}) at character "
                             f"{e.start}, which is not valid Unicode text; send UTF-8 text") from None
    return v


class ContentPart(BaseModel):
    type: Literal["text"]
    text: str

    @field_validator("text")
    @classmethod
    def _text(cls, v):
        return _utf8(v)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = ""

    @field_validator("content")
    @classmethod
    def _content(cls, v):
        return _utf8(v) if isinstance(v, str) else v

    def plain(self) -> dict[str, str]:
        """``{"role", "content"}`` with text parts joined (chat templates want a string); 'developer' → 'system'."""
        content = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content or [])
        return {"role": "system" if self.role == "developer" else self.role, "content": content}


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Sampling(BaseModel):
    """Settings shared by both endpoints (unknown fields are ignored, as OpenAI-compatible servers do)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    temperature: float = Field(1.0, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=-(2**63), lt=2**64)  # the range torch's generators take
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1

    @field_validator("n")
    @classmethod
    def _one_choice(cls, v):
        if v != 1:
            raise ValueError("only n=1 is supported")
        return v

    @field_validator("top_p")
    @classmethod
    def _no_nucleus(cls, v):
        if v != 1.0:
            raise ValueError("only top_p=1 is supported (use temperature)")
        return v

    @field_validator("stop", "model")
    @classmethod
    def _text(cls, v):
        return _utf8(v)

    @field_validator("stop")
    @classmethod
    def _stops(cls, v):
        stops = [v] if isinstance(v, str) else list(v or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        return [s for s in stops if s]


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)

    @model_validator(mode="after")
    def _logprobs(self):
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=true")
        return self


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool = False

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, v):
        if v:
            raise ValueError("echo=true is not supported")
        return v

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v):
        if isinstance(v, list):
            if len(v) != 1:
                raise ValueError("send one prompt per request")
            v = v[0]
        if not v:
            raise ValueError("the prompt is empty: send some text to continue")
        return _utf8(v)
