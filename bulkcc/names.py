"""Names compared as a person reads them (bottom layer; imports nothing of bulkcc).

Two cells an admin reads as one name must be one name to bulkcc, wherever it
compares names: two rows creating one call center, a create whose name is
already live, an operators row's `call_center_name`, a lookup by name. The API
itself compares names byte for byte (and a store may NFC-normalise what it
keeps), so "Café Köln" typed in NFD, "Center\\u00a01002" with a no-break space,
"Center 1003\\u200b" with a zero-width space and " CENTER 1004 " would each make
a second center that looks exactly like the first.

`name_key` is the one comparison: Unicode NFKC (so NFD and NFC, full-width and
compatibility forms agree), case-folded, every character that shows nothing
dropped (format characters, category Cf: zero-width space and joiners, BOM,
soft hyphen, bidi marks; and the rest of Unicode's Default_Ignorable_Code_Point
list: variation selectors, the combining grapheme joiner, Hangul fillers), and
every run of blanks (no-break and other Unicode spaces, the blank Braille
pattern) one space, none at the ends. It is for comparing only: what bulkcc sends is the
name as typed (outer blanks trimmed), never the key.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt) that are not format characters (Cf): each shows
# nothing, so "Center\ufe0f" or "Cen\u034fter" would be a second "Center" nobody can tell apart.
_IGNORABLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
                        "\ufff0-\ufff8\U000e0000-\U000e0fff]")
_BLANK_BRAILLE = "\u2800"  # no dots: a blank, though Unicode does not call it a space


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _shows_nothing(char: str) -> bool:
    return unicodedata.category(char) == "Cf" or _IGNORABLE.match(char) is not None


def name_key(name: Any) -> str:
    """The name as a person reads it: the key under which two names are the same name."""
    text = _fold(str(name))
    if not text.isascii():
        text = "".join(char for char in text if not _shows_nothing(char)).replace(_BLANK_BRAILLE, " ")
    return " ".join(text.split())


def same_name(first: Any, second: Any) -> bool:
    """Two names a person reads as one (see `name_key`)."""
    return name_key(first) == name_key(second)


def how_alike(first: Any, second: Any) -> str:
    """Why two names that read as one (`same_name`) are not the same text, in words a message can
    give: "they differ in case and blanks". Two names that differ only in Unicode form print alike,
    so without this a message would show the same name twice."""
    a, b = str(first).strip(), str(second).strip()
    if a == b:
        return "they are the same text"
    kinds = []
    if any(" ".join(text.split()) != text or _BLANK_BRAILLE in text for text in (a, b)):
        kinds.append("blanks")
    if any(_shows_nothing(char) for char in a + b):
        kinds.append("invisible characters")
    if any(unicodedata.normalize("NFKC", text) != text for text in (" ".join(a.split()), " ".join(b.split()))):
        kinds.append("Unicode form (the same letters written with other code points)")
    if _visible(a) != _visible(b):
        kinds.append("case")
    return "they differ in " + " and ".join(kinds or ["how they are written"])


def _visible(text: str) -> str:
    """The name as a person sees it, case kept."""
    kept = "".join(c for c in unicodedata.normalize("NFKC", text) if not _shows_nothing(c))
    return " ".join(kept.replace(_BLANK_BRAILLE, " ").split())


def sent_name(name: Any) -> str:
    """A name as bulkcc sends it: as typed, without the outer blanks a cell cannot show."""
    return str(name).strip()
