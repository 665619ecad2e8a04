"""Dates as the bulletins state them, never invented.

A bulletin that says "On March 1" without a year gets the partial ISO 8601 date ``--03-01``,
unless the same file states a year in a full date or the operator sets one (``RAG_DEFAULT_YEAR``).
The file's modification time and today's date are never used: a digest written in 2024 about
March 2023 would be dated wrongly.
"""

from __future__ import annotations

import re
from datetime import date

from rag.text import normalize

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        ["jan january", "feb february", "mar march", "apr april", "may", "jun june", "jul july",
         "aug august", "sep sept september", "oct october", "nov november", "dec december"]
    )
    for m in names.split()
}
_MONTH_NAMES = sorted(MONTHS, key=len, reverse=True)  # longest first: "september" before "sep"
# A date a bulletin states (in its normalised text): "March 1, 2023", "mar. 1", "2023-03-01".
_STATED = re.compile(
    r"\b(?P<month>" + "|".join(_MONTH_NAMES) + r")\.?\s+(?P<day>\d{1,2})"
    r"(?:st|nd|rd|th)?(?:,?\s+(?P<year>(?:19|20)\d\d))?\b"
    r"|\b(?P<iso>(?:19|20)\d\d-\d\d-\d\d)\b",
    re.IGNORECASE,
)
# A date phrase as running text writes it (the short answer to "when"; rag/answer/span.py): a capitalised
# month with a day or a year, a day before the month, a year, a decade ("1990s"), a range of years.
SPACE = r"[ \u00a0]"
_MONTH = r"(?:" + "|".join(m.capitalize() for m in _MONTH_NAMES) + r")\.?"
_YEAR = r"(?:1[0-9]|20)\d\d"  # 1000-2099: history questions ask for old years too
DATE_PHRASE = re.compile(
    rf"\b{_MONTH}{SPACE}+\d{{1,2}}(?:st|nd|rd|th)?(?:,{SPACE}*{_YEAR})?\b"
    rf"|\b{_MONTH}{SPACE}+{_YEAR}\b"
    rf"|\b\d{{1,2}}{SPACE}+{_MONTH}(?:{SPACE}+{_YEAR})?\b"
    rf"|\b{_YEAR}(?:s\b|(?:[–-](?:1\d|20)?\d\d)?\b)"
)
MONTH_PHRASE = re.compile(rf"{_MONTH}(?:{SPACE}+\d+)?")  # "March", "March 20": a month, not a name
_PARTIAL = re.compile(r"--(\d\d)-(\d\d)")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # what a date filter is written as (YYYY-MM-DD)


def find_date(text: str, year: int | None = None) -> str | None:
    """First date ``text`` states, as ISO 8601: ``2023-03-01``, or ``--03-01`` when it gives no
    year and ``year`` is ``None``."""
    for match in _STATED.finditer(normalize(text)):
        if match.group("iso"):
            try:
                return date.fromisoformat(match.group("iso")).isoformat()
            except ValueError:
                continue
        month, day = MONTHS[match.group("month").lower()], int(match.group("day"))
        stated = int(match.group("year")) if match.group("year") else year
        try:
            date(stated or 2000, month, day)  # 2000 is a leap year: February 29 stays valid
        except ValueError:
            continue
        return f"{stated:04d}-{month:02d}-{day:02d}" if stated else f"--{month:02d}-{day:02d}"
    return None


def stated_year(text: str) -> int | None:
    """The year of the first full date in ``text`` ("March 1, 2023", "2023-03-01"), if any."""
    for match in _STATED.finditer(normalize(text)):
        if match.group("year"):
            return int(match.group("year"))
        if match.group("iso"):
            return int(match.group("iso")[:4])
    return None


def leading_year(value: str) -> int | None:
    """The year a date field starts with ("2023-03-01", "2023"), if it starts with one."""
    match = re.match(r"((?:19|20)\d\d)\b", value.strip())
    return int(match.group(1)) if match else None


def in_range(stated: str | None, date_from: str | None, date_to: str | None) -> bool:
    """Whether a bulletin dated ``stated`` passes an inclusive ``[date_from, date_to]`` filter.

    An undated bulletin passes only an open filter. A partial date (``--03-01``) passes when
    some year puts it inside the range: it may be that date, and a filter must not hide what
    the text never ruled out.
    """
    if not date_from and not date_to:
        return True
    if not stated:
        return False
    if not _PARTIAL.fullmatch(stated):
        return (not date_from or stated >= date_from) and (not date_to or stated <= date_to)
    if not date_from or not date_to:
        return True  # an open end: some year always fits
    day, first, last = stated[1:], int(date_from[:4]), int(date_to[:4])  # day: "-03-01"
    if last - first >= 2:
        return True
    if last == first:
        return date_from[4:] <= day <= date_to[4:]
    return last == first + 1 and (day >= date_from[4:] or day <= date_to[4:])
