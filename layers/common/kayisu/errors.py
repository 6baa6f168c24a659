"""Errors that reach a client as RFC 9457 problem details.

Domain code raises these; the HTTP plumbing (kayisu.web) turns them into
`application/problem+json`. `detail` must never contain a card code or an internal name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Problem(Exception):
    status: int
    code: str
    title: str
    detail: str = ""
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Retry-After

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code}: {self.detail or self.title}")

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": f"https://kayisu.dev/problems/{self.code.lower().replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "code": self.code,
        }
        if self.errors:
            doc["errors"] = [e.as_dict() for e in self.errors]
        doc.update(self.extra)
        return doc


def validation_error(errors: list[FieldError], detail: str = "The request is not valid.") -> Problem:
    return Problem(422, "VALIDATION_ERROR", "Validation failed", detail, errors)


def malformed_json() -> Problem:
    return Problem(400, "MALFORMED_JSON", "Malformed JSON", "The request body is not valid JSON.")


def not_found(code: str, detail: str) -> Problem:
    return Problem(404, code, "Not found", detail)


def route_not_found() -> Problem:
    return Problem(404, "NOT_FOUND", "Not found", "No such resource.")


def conflict(code: str, detail: str) -> Problem:
    return Problem(409, code, "Conflict", detail)


def unauthorized() -> Problem:
    return Problem(401, "UNAUTHORIZED", "Unauthorized", "A valid bearer token is required.")


def forbidden() -> Problem:
    return Problem(403, "FORBIDDEN", "Forbidden", "Your account may not do this.")


def internal_error() -> Problem:
    return Problem(500, "INTERNAL_ERROR", "Internal error", "Something went wrong on our side.")
