"""Decode failures: each carries a short ``kind`` that becomes the dead letter's error_kind.

DecodeError                   base; kind = "invalid"
 ├── Undecodable              bytes that are not the expected format at all
 ├── UnsupportedEvent         well-formed, but a trigger/resource we do not handle
 ├── MissingField             a field the event cannot be understood without
 └── InvalidValue             a field with a value of the wrong shape (bad timestamp, ...)
"""

from __future__ import annotations


class DecodeError(Exception):
    kind = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Undecodable(DecodeError):
    kind = "undecodable"


class UnsupportedEvent(DecodeError):
    kind = "unsupported_event"


class MissingField(DecodeError):
    kind = "missing_field"


class InvalidValue(DecodeError):
    kind = "invalid_value"
