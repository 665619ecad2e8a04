"""Dates as the bulletins state them, never invented.

A bulletin that says "On March 1" without a year gets the partial ISO 8601 date ``--03-01``,
unless the same file states a year in a full date or the operator sets one (``RAG_DEFAULT_YEAR``).
The file's modification time and today's date are never used: a digest written in 2024 about
March 2023 would be dated wrongly.
"""

from __future__ import annotations

import re
from datetime import date

from .text import normalize

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        ["jan january", "feb february", "mar march", "apr april", "may", "jun june", "jul july",
         "aug august", "sep sept september", "oct october", "nov november", "dec december"]
    )
    for m in names.split()
}
_DATE = re.compile(
    r"\b(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?\s+(?P<day>\d{1,2})"
    r"(?:st|nd|rd|th)?(?:,?\s+(?P<year>(?:19|20)\d\d))?\b"
    r"|\b(?P<iso>(?:19|20)\d\d-\d\d-\d\d)\b",
    re.IGNORECASE,
)
_PARTIAL = re.compile(r"--(\d\d)-(\d\d)")


def find_date(text: str, year: int | None = None) -> str | None:
    """First date ``text`` states, as ISO 8601: ``2023-03-01``, or ``--03-01`` when it gives no
    year and ``year`` is ``None``."""
    for match in _DATE.finditer(normalize(text)):
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
    for match in _DATE.finditer(normalize(text)):
        if match.group("year"):
            return int(match.group("year"))
        if match.group("iso"):
            return int(match.group("iso")[:4])
    return None


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
