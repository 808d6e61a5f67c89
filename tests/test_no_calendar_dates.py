"""Guard: no test or benchmark writes a calendar date (issue #13).

A fixed date in a test passes until some horizon — "the last 24 hours", "since midnight", a
token's lifetime — moves past it, then fails on every run. Tests date their events from the run
(``tests/support/clock.py``). Recorded third-party data keeps its own dates: a line that carries
``# recorded:`` (with why), or a file whose first lines say ``recorded historical data``, is
exempt. ISO dates, date/datetime constructors with a literal year, and HL7 date-times (a date
with an hour and minute) are what is looked for; an 8-digit birth date is not an event time.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOTS = (Path("tests"), Path("bench"))
SUFFIXES = {".py", ".json", ".jsonl", ".hl7", ".txt", ".yaml", ".yml", ".ts", ".tsx"}
FILE_MARKER = "recorded historical data"
LINE_MARKER = "# recorded:"

_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01])"
CALENDAR_DATE = re.compile(
    rf"(?<![\w.])(?:{_YEAR}-{_MONTH}-{_DAY}"  # ISO 8601: year-month-day
    rf"|{_YEAR}{_MONTH}{_DAY}(?:[01]\d|2[0-3])[0-5]\d)(?!\d{{7}})"  # HL7 DTM with a time
    rf"|\b(?:datetime|date)\(\s*{_YEAR}\s*,"  # a constructor with a literal year
)


def calendar_dates(text: str) -> list[tuple[int, str]]:
    """(line number, the date) for each calendar date in ``text`` not marked as recorded."""
    if FILE_MARKER in "\n".join(text.splitlines()[:5]):
        return []
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if LINE_MARKER in line:
            continue
        found += [(number, match.group(0)) for match in CALENDAR_DATE.finditer(line)]
    return found


def test_no_test_or_benchmark_writes_a_calendar_date() -> None:
    offenders = [
        f"{path}:{line}: {date}"
        for root in ROOTS
        for path in sorted(root.rglob("*"))
        if path.suffix in SUFFIXES and path.is_file()
        for line, date in calendar_dates(path.read_text(errors="replace"))
    ]
    assert not offenders, (
        "calendar dates in tests (date events from the run: tests/support/clock.py):\n"
        + "\n".join(offenders)
    )


def test_the_guard_sees_each_form_of_date() -> None:
    year = "20" + "26"  # built, so that this file passes its own guard
    caught = [
        f'occurred_at = "{year}-11-25T09:00:00Z"',
        f"T0 = datetime({year}, 11, 25, 8, 0, tzinfo=UTC)",
        f"start = date({year}, 1, 2)",
        f'header = "MSH|^~\\\\&|SND|FAC|RCV|QAB|{year}1125101500||ADT^A01"',
        f"EVN|A01|{year}11250930",
    ]
    for line in caught:
        assert calendar_dates(line), line
    passed = [
        'patient = Patient("MRN1", "9449305552", "Testing", "Alex", "19450101", "F")',
        "seed = 7",
        "version = '2.5.1'",
        "uuid = 'a2026-11-25'",  # part of a longer word
        f'dob = "{year}-01-02"  # recorded: a birth date from the corpus',
    ]
    for line in passed:
        assert not calendar_dates(line), line
    assert not calendar_dates(f"# {FILE_MARKER}\nwhen = '{year}-11-25'\n")
