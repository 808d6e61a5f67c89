"""Differential test: the lazy ER7 tokenizer reads exactly what python-hl7 reads — every value
of every corpus message, and of generated messages full of repetitions, components,
subcomponents and escape sequences (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ingest.decoders.er7 import Er7Message
from app.ingest.decoders.hl7v2 import split_messages

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "hl7v2"


def reference(message: hl7.Message, segment: str, field: int, comp: int, sub: int, rep: int) -> str:
    """What the decoder read through python-hl7 before the tokenizer existed."""
    try:
        value = message[f"{segment}.F{field}.R{rep}.C{comp}.S{sub}"]
    except (KeyError, IndexError):
        return ""
    text = str(message.unescape(str(value))).strip() if value else ""
    return "" if text == '""' else text


def paths(text: str) -> list[tuple[str, int, int, int, int]]:
    """Every (segment occurrence, field, component, sub, repetition) worth reading, and a few
    past the end of each level."""
    seen: dict[str, int] = {}
    out = []
    for raw in text.split("\r"):
        name = raw[:3]
        seen[name] = seen.get(name, 0) + 1
        key = name if seen[name] == 1 else f"{name}{seen[name]}"
        first = 3 if name == "MSH" else 1  # python-hl7 reports MSH-1/2 oddly; never read
        for field in range(first, raw.count("|") + 3):
            for rep in (1, 2, 3):
                for comp in range(1, 6):
                    for sub in (1, 2, 3):
                        out.append((key, field, comp, sub, rep))
    return out


def assert_agree(text: str) -> int:
    ours, theirs = Er7Message(text), hl7.parse(text)
    checked = 0
    for segment, field, comp, sub, rep in paths(text):
        expected = reference(theirs, segment, field, comp, sub, rep)
        assert ours.get(segment, field, comp, sub, rep) == expected, (
            segment,
            field,
            comp,
            sub,
            rep,
        )
        checked += 1
    for name in {line[:3] for line in text.split("\r")}:
        assert ours.count(name) == _count(theirs, name), name
    fresh = Er7Message(text)  # values() before any get(): it splits the field itself
    for segment, field in dict.fromkeys((s, f) for s, f, _, _, _ in paths(text)):
        parts = [reference(theirs, segment, field, comp, 1, 1) for comp in range(1, 6)]
        assert fresh.values(segment, field, 5) == parts, (segment, field)
    return checked


def _count(message: hl7.Message, name: str) -> int:
    try:
        return len(message.segments(name))
    except KeyError:  # python-hl7's way of saying none (it never finds a bare segment name)
        return 0


def corpus_texts() -> list[str]:
    files = sorted(CORPUS.glob("*.hl7"))
    if not files:
        pytest.fail(f"CORPUS ABSENT: no HL7 v2 messages under {CORPUS}")
    return [text for path in files for text in split_messages(path.read_bytes())]


def test_every_value_of_every_corpus_message_agrees() -> None:
    texts = corpus_texts()
    checked = sum(assert_agree(text) for text in texts)
    assert len(texts) >= 72
    assert checked > 100_000  # every path of every segment, not a sample


# \E\ is left out here: python-hl7 resolves it while parsing and then unescapes again, so
# `x\E\y` reads as `x` through it; the tokenizer unescapes once (`x\y`, as the standard
# says) — checked on its own below.
ESCAPES = [r"\F\ ", r"\S\ ", r"\T\ ", r"\R\ ", r"\X41\ ", r"\.br\ ", r"\H\ ", r"\N\ "]
atom = st.text(alphabet="ABCxyz019 -.:/'", min_size=0, max_size=6) | st.sampled_from(
    [e.strip() for e in ESCAPES]
)
subs = st.lists(st.lists(atom, min_size=1, max_size=3).map("".join), min_size=1, max_size=3)
components = st.lists(subs.map("&".join), min_size=1, max_size=4).map("^".join)
fields = st.lists(components, min_size=1, max_size=3).map("~".join) | st.just('""')
segment = st.tuples(
    st.sampled_from(["PID", "PV1", "PV2", "EVN", "NK1", "MRG", "ZU1"]),
    st.lists(fields, min_size=0, max_size=12),
).map(lambda s: "|".join([s[0], *s[1]]))


@settings(max_examples=200, deadline=None)
@given(st.lists(segment, min_size=1, max_size=5))
def test_generated_messages_agree(segments: list[str]) -> None:
    header = "MSH|^~\\&|SND|FAC|RCV|QAB|||ADT^A01^ADT_A01|C1|P|2.4"
    assert_agree("\r".join([header, *segments]))


def test_an_escaped_escape_character_is_unescaped_once() -> None:
    header = "MSH|^~\\&|SND|FAC|RCV|QAB|||ADT^A01^ADT_A01|C1|P|2.4"
    message = Er7Message(header + "\rPID|x\\E\\y|\\F\\a\\E\\b^c")
    assert message.get("PID", 1) == "x\\y"
    assert message.get("PID", 2) == "|a\\b"
    assert message.get("PID", 2, 2) == "c"
