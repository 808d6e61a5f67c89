"""Decode failures: each carries a short ``kind`` that becomes the dead letter's error_kind.

DecodeError                   base; kind = "invalid"
 ├── Undecodable              bytes that are not the expected format at all
 ├── UnsupportedEvent         well-formed, but a trigger/resource we do not handle
 ├── MissingField             a field the event cannot be understood without
 ├── InvalidValue             a field with a value of the wrong shape (bad timestamp, ...)
 └── DecoderCrash             the decoder itself raised something else on this record: a bug
                              it met, kept as ``decoder_crash:<exception type>``

Messages never quote a value from the record (they are logged; the raw bytes are kept, under
access control, in the dead-letter store).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

Raw = TypeVar("Raw")
Result = TypeVar("Result")


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


class DecoderCrash(DecodeError):
    """Any other exception from a decoder: the record's fault as far as ingestion goes (the
    partition moves on), and a bug to fix. The message names the exception type and where it
    was raised, never its text (which may quote the record)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"the decoder raised {crash_site(error)}")
        self.kind = f"decoder_crash:{type(error).__name__}"


def crash_site(error: BaseException) -> str:
    """``KeyError at fold.py:120``: what was raised and where, without its text."""
    frames = traceback.extract_tb(error.__traceback__)
    last = frames[-1] if frames else None
    where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else ""
    return f"{type(error).__name__}{where}"


def decoding(decode: Callable[[Raw], Result], raw: Raw) -> Result:
    """``decode(raw)``, with any exception but a :class:`DecodeError` turned into a
    :class:`DecoderCrash`: one bad record can never stop a partition or give a 500."""
    try:
        return decode(raw)
    except DecodeError:
        raise
    except ValidationError as error:  # a value the canonical event refuses
        first = error.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(event)"
        raise InvalidValue(f"{where}: {first['msg']}") from error
    except Exception as error:
        raise DecoderCrash(error) from error
