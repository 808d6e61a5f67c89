"""One error tree for expected outcomes; anything else reaching the handler is a bug (500).

    AppError                      500  base; never raised directly
     ├── BadRequest               400  the request is well-formed JSON but makes no sense
     │    └── InvalidPayload      422  a payload failed validation (details say where)
     ├── Unauthorized             401  no, expired, forged or wrong-audience credentials
     ├── Forbidden                403  authenticated but the role may not do this
     ├── NotFound                 404  no such resource (or not visible to this role)
     ├── DependencyUnavailable    503  PostgreSQL or Kafka cannot be reached
     └── ConfigurationError       500  a configuration file (economy, OPEL profile) is invalid;
                                       raised at start-up, before any request is served

Every error response has the same body: ``{"error": {"code", "message", "details"}}``. One status
comes from outside the tree: 413 ``payload_too_large``, a body over its route's limit, refused by
an ASGI middleware (app/limits.py) before anything reads it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AppError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> ErrorBody:
        return ErrorBody(
            error=ErrorDetail(code=self.code, message=self.message, details=self.details)
        )


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class InvalidPayload(BadRequest):
    status_code = 422
    code = "invalid_payload"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class DependencyUnavailable(AppError):
    status_code = 503
    code = "dependency_unavailable"


class ConfigurationError(AppError):
    code = "configuration_error"


class ErrorDetail(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no acute site XYZ01 visible to this role"])
    details: Any = None


class ErrorBody(BaseModel):
    """The one error body every 4xx/5xx carries."""

    error: ErrorDetail


# FastAPI's own type for a route's ``responses=`` (OpenAPI response objects, free-form by spec).
Responses = dict[int | str, dict[str, Any]]


def _documented(description: str) -> dict[str, object]:
    return {"model": ErrorBody, "description": description}


# Documented on every API route (the OpenAPI schema says what a client may meet).
ERROR_RESPONSES: Responses = {
    400: _documented("Malformed request (e.g. a body that is not JSON)"),
    401: _documented("No bearer token or API key, or an invalid, expired or forged one"),
    403: _documented("Authenticated, but this role may not do this"),
    404: _documented("No such thing, or not visible to this role"),
    413: _documented("The request body is over the route's limit (1 MiB; ingest: configured)"),
    422: _documented("The request is well formed but its values are invalid"),
    503: _documented("A dependency (PostgreSQL or Kafka) is unavailable; retry later"),
}
