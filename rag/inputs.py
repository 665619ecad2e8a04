"""What text the core accepts from outside: encodable, and not blank.

"Blank" is defined once, as an explicit character class that means the same in Python's ``re``
and in ECMA-262 (the regex dialect of JSON Schema), so the API's published patterns and the
core's checks agree on every string: ECMA's ``\\s`` and Python's differ (Python counts
``\\x1c``-``\\x1f`` and ``\\x85`` as spaces, ECMA counts ``\\ufeff``).
"""

from __future__ import annotations

import re

from rag.errors import QueryError

# ECMA-262 WhiteSpace and LineTerminator: what JSON Schema's \s means
_BLANK_CLASS = r"\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
BLANK = "\t\n\x0b\x0c\r \xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000\ufeff"
NOT_BLANK = rf"[^{_BLANK_CLASS}]"  # a pattern: at least one character that is not a space
# at least one visible character: not a space and not a C0 or C1 control
VISIBLE = rf"[^{_BLANK_CLASS}\x00-\x1f\x7f-\x9f]"
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_NOT_BLANK = re.compile(NOT_BLANK)
_VISIBLE = re.compile(VISIBLE)


def unencodable_at(text: str) -> int | None:
    """Position of the first character UTF-8 cannot encode (a lone surrogate), or ``None``."""
    found = _SURROGATE.search(text)
    return None if found is None else found.start()


def check_encodable(text: str, what: str) -> str:
    """``text`` unchanged, or QueryError if it holds a lone surrogate (JSON's ``"\\ud800"``)."""
    at = unencodable_at(text)
    if at is not None:
        raise QueryError(f"the {what} holds a character that cannot be encoded (U+{ord(text[at]):04X} at "
                         f"position {at}): send valid Unicode text")
    return text


def is_blank(text: str) -> bool:
    return _NOT_BLANK.search(text) is None


def has_visible(text: str) -> bool:
    return _VISIBLE.search(text) is not None


def strip_blank(text: str) -> str:
    return text.strip(BLANK)
