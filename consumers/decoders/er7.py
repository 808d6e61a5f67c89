"""A small lazy ER7 tokenizer — the fast path of the HL7 v2 decoder (ADR 0004).

python-hl7 builds the whole tree of every message (~0.4 ms for a 900-byte ADT); the decoder
reads about twenty values. Here the message is split into segments once, a segment into fields
only when first read, and a field into repetitions, components and subcomponents only along the
path asked for. Escape sequences are rare in ADT and full of edge cases, so a value that contains
the escape character is unescaped by python-hl7 itself (same separators): the result is the
library's, by construction. ``tests/consumers/test_er7.py`` proves value-for-value agreement with
python-hl7 on every corpus message and on generated ones.
"""

from __future__ import annotations

from functools import lru_cache

import hl7


class Er7Error(ValueError):
    """The text is not an ER7 message (no MSH header with its separators)."""


class Er7Message:
    __slots__ = ("_fields", "_segments", "component", "escape", "field", "repetition", "sub")

    def __init__(self, text: str) -> None:
        if not text.startswith("MSH") or len(text) < 8:
            raise Er7Error("an ER7 message starts with MSH and its separators")
        self.field = text[3]
        end = text.find(self.field, 4)
        encoding = text[4:end] if end != -1 else text[4:8]
        if len(encoding) < 2:
            raise Er7Error("MSH-2 must give at least the component and repetition separators")
        self.component, self.repetition = encoding[0], encoding[1]
        self.escape = encoding[2] if len(encoding) > 2 else "\\"
        self.sub = encoding[3] if len(encoding) > 3 else "&"
        self._segments: dict[str, list[str]] = {}
        for segment in text.split("\r"):
            # A bare segment name carries no value; python-hl7 cannot address one either.
            if segment[3:4] == self.field:
                self._segments.setdefault(segment[:3], []).append(segment)
        self._fields: dict[tuple[str, int], list[str]] = {}

    def count(self, name: str) -> int:
        """How many segments of this type the message has."""
        return len(self._segments.get(name, ()))

    def get(self, segment: str, field: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        """The unescaped, stripped value; '' when absent (and for HL7's explicit null "")."""
        value = self._raw(segment, field, component, sub, rep)
        if self.escape in value:
            value = self._unescape(value)
        value = value.strip()
        return "" if value == '""' else value

    def _raw(self, segment: str, field: int, component: int, sub: int, rep: int) -> str:
        name, occurrence = segment[:3], int(segment[3:] or 1)
        fields = self._split(name, occurrence)
        if fields is None:
            return ""
        index = field - 1 if name == "MSH" else field  # MSH-1 is the separator itself
        if index >= len(fields) or index < 1:
            return ""
        for separator, position in (
            (self.repetition, rep),
            (self.component, component),
            (self.sub, sub),
        ):
            parts = (
                fields[index].split(separator) if separator in fields[index] else [fields[index]]
            )
            if position > len(parts):
                return ""
            fields, index = parts, position - 1
        return fields[index]

    def _split(self, name: str, occurrence: int) -> list[str] | None:
        key = (name, occurrence)
        fields = self._fields.get(key)
        if fields is None:
            segments = self._segments.get(name)
            if segments is None or occurrence > len(segments):
                return None
            fields = self._fields[key] = segments[occurrence - 1].split(self.field)
        return fields

    def _unescape(self, value: str) -> str:
        separators = self.field + self.component + self.repetition + self.escape + self.sub
        return str(_unescaper(separators).unescape(value))


@lru_cache(maxsize=16)
def _unescaper(separators: str) -> hl7.Message:
    """A minimal python-hl7 message with these separators: its unescape is the reference."""
    field, encoding = separators[0], separators[1:]
    return hl7.parse(f"MSH{field}{encoding}{field}")
