"""A small lazy ER7 tokenizer — the fast path of the HL7 v2 decoder (ADR 0004).

python-hl7 builds the whole tree of every message (~0.4 ms for a 900-byte ADT); the decoder
reads about twenty values. Here the message is split into segments once, a segment into fields
only when first read, a field repetition into components when first read (and kept: a location
or an id is read a component at a time), and a component into subcomponents only when asked.
Escape sequences (HL7 v2 §2.7) are unescaped here too, with bounds python-hl7 does not have:
its ``\\.spN\\``/``\\.inN\\`` expand to N characters whatever N is (~200 bytes became gigabytes)
and it logs the field's value when it meets a sequence it cannot read. Here a repeat
count is capped, an unreadable sequence is dropped, a message and a value have a maximum size,
and no value is ever logged (ADR 0004). ``tests/consumers/test_er7.py`` proves value-for-value
agreement with python-hl7 on every corpus message and on generated ones (benign input).
"""

from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 1 << 20  # 1 MiB of ER7: ADT messages are a few kB
MAX_VALUE_CHARS = 16_384  # one value read (an id, a time, a location part), after unescaping
MAX_REPEAT = 16  # .sp/.in/.ti/.sk counts: line breaks and indents, never a payload
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_FORMATTING = {".br": "\r", ".sp": "\r", ".ce": "\r", ".fi": "", ".nf": "", ".in": "    ",
               ".ti": "    ", ".sk": " "}  # fmt: skip


class Er7Error(ValueError):
    """The text is not an ER7 message, or one beyond the size limits."""


class Er7Message:
    __slots__ = ("_components", "_fields", "_segments", "component", "escape", "field",
                 "repetition", "sub")  # fmt: skip

    def __init__(self, text: str) -> None:
        if len(text) > MAX_MESSAGE_CHARS:
            raise Er7Error(f"{len(text)} characters (the limit is {MAX_MESSAGE_CHARS})")
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
        # A field repetition's components, split once: a location, an id or a message type is
        # read a component at a time.
        self._components: dict[tuple[str, int, int], list[str]] = {}

    def count(self, name: str) -> int:
        """How many segments of this type the message has."""
        return len(self._segments.get(name, ()))

    def repetitions(self, segment: str, field: int) -> int:
        """How many repetitions the field has (0 when absent or empty)."""
        value = self._field(segment, field)
        return value.count(self.repetition) + 1 if value else 0

    def get(self, segment: str, field: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        """The unescaped, stripped value; '' when absent (and for HL7's explicit null "")."""
        return self._clean(segment, field, self._raw(segment, field, component, sub, rep))

    def values(self, segment: str, field: int, count: int) -> list[str]:
        """Components 1..``count`` of the field's first repetition, each read as ``get`` reads
        it (its first subcomponent): a location's four parts in one call."""
        self._raw(segment, field, 1, 1, 1)  # splits the repetition into components, once
        components = self._components[(segment, field, 1)][:count]
        sub = self.sub
        values = [
            self._clean(segment, field, c.split(sub, 1)[0] if sub in c else c) for c in components
        ]
        return values + [""] * (count - len(values))

    def _clean(self, segment: str, field: int, value: str) -> str:
        if self.escape in value:
            value = self._unescape(value)
        if len(value) > MAX_VALUE_CHARS:
            raise Er7Error(
                f"{segment}-{field} holds {len(value)} characters (the limit is {MAX_VALUE_CHARS})"
            )
        value = value.strip()
        return "" if value == '""' else value

    def _field(self, segment: str, field: int) -> str:
        if len(segment) == 3:
            name, occurrence = segment, 1
        else:
            name, occurrence = segment[:3], int(segment[3:] or 1)
        fields = self._split(name, occurrence)
        if fields is None:
            return ""
        index = field - 1 if name == "MSH" else field  # MSH-1 is the separator itself
        if index >= len(fields) or index < 1:
            return ""
        return fields[index]

    def _raw(self, segment: str, field: int, component: int, sub: int, rep: int) -> str:
        # Down the path asked for only; a separator that is absent leaves one part.
        key = (segment, field, rep)
        components = self._components.get(key)
        if components is None:
            value: str | None = self._field(segment, field)
            if value and self.repetition in value:
                parts = value.split(self.repetition)
                value = parts[rep - 1] if rep <= len(parts) else None
            elif rep != 1:
                value = None
            components = self._components[key] = (
                [] if value is None else value.split(self.component)
            )
        if component > len(components):
            return ""
        value = components[component - 1]
        if self.sub in value:
            parts = value.split(self.sub)
            return parts[sub - 1] if sub <= len(parts) else ""
        return value if sub == 1 else ""

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
        """HL7 v2 §2.7: separators (F S T R E), highlighting (H N, read as python-hl7 reads them),
        hex data (Xhh…), formatting (.br .sp .in …). A sequence without its closing escape, or
        one not understood (character-set switches C/M, Z…), is dropped; a formatting count
        that is not a number up to MAX_REPEAT refuses the message (an escape bomb)."""
        parts = value.split(self.escape)
        out = [parts[0]]
        # parts alternate text / sequence / text ...; an even count means the last is unclosed.
        closed = len(parts) - 1 if len(parts) % 2 else len(parts) - 2
        for index in range(1, closed, 2):
            out.append(self._sequence(parts[index]))
            out.append(parts[index + 1])
        return "".join(out)

    def _sequence(self, sequence: str) -> str:
        simple = {"F": self.field, "S": self.component, "T": self.sub, "R": self.repetition,
                  "E": self.escape, "H": "_", "N": "_"}  # fmt: skip
        if sequence in simple:
            return simple[sequence]
        if sequence[:1] == "X":
            return _hex(sequence[1:])
        if sequence[:3] in _FORMATTING:
            count = sequence[3:].strip()
            if not count:
                return _FORMATTING[sequence[:3]]
            digits = count.isascii() and count.isdigit() and len(count) <= 4
            if not (digits and int(count) <= MAX_REPEAT):
                raise Er7Error(
                    f"an escape sequence {sequence[:3]} with a count that is not 0-{MAX_REPEAT}"
                )
            return _FORMATTING[sequence[:3]] * int(count)
        return ""


def _hex(digits: str) -> str:
    """\\Xhh…\\: each pair of hex digits is one character (as python-hl7 reads it)."""
    if not _HEX.match(digits):
        return ""
    return "".join(chr(int(digits[i : i + 2], 16)) for i in range(0, len(digits), 2))
