"""Exception hierarchy; every error maps to OpenAI's error JSON and an HTTP status."""

from __future__ import annotations

from typing import Any


class HanlinError(Exception):
    status: int = 500
    type: str = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        err.update(self.extra)
        return {"error": err}


class BadRequest(HanlinError):
    status = 400
    type = "invalid_request_error"


class ContextOverflow(BadRequest):
    """The prompt (plus max_tokens) does not fit the model's context window."""


def context_overflow(n_prompt: Any, n_ctx: Any) -> ContextOverflow:
    """OpenAI's wording (litellm and others classify on it) with Hanlin's code and counts."""
    return ContextOverflow(
        f"This model's maximum context length is {n_ctx} tokens. However, your messages resulted in {n_prompt} "
        "tokens. Please reduce the length of the messages (or lower max_tokens).", param="messages",
        code="context_length_exceeded", extra={"n_prompt_tokens": n_prompt, "n_ctx": n_ctx})


class AuthenticationError(HanlinError):
    status = 401
    type = "authentication_error"


class PermissionDenied(HanlinError):
    status = 403
    type = "permission_error"


class NotFound(HanlinError):
    status = 404
    type = "not_found_error"


class Conflict(HanlinError):
    status = 409
    type = "conflict_error"


class PayloadTooLarge(HanlinError):
    status = 413
    type = "invalid_request_error"


class UnprocessableInput(HanlinError):
    """The input parsed but cannot be used (corrupt file, empty sheet, unknown format)."""

    status = 422
    type = "invalid_request_error"


class RateLimited(HanlinError):
    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class EngineError(HanlinError):
    status = 502
    type = "engine_error"


class Unavailable(HanlinError):
    status = 503
    type = "unavailable_error"


class ModelIntegrityError(HanlinError):
    """An assembled model does not match its pinned hash."""

    status = 500
    type = "model_integrity_error"
