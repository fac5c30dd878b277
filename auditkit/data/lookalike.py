"""Group names that look alike but are spelled differently (invisible characters, letters of other scripts)."""
from __future__ import annotations

import unicodedata
from collections import defaultdict
from typing import Iterable

# Cyrillic and Greek letters drawn like Latin ones (after NFKC), mapped to the Latin letter they imitate.
_LOOK_ALIKE = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ɡ": "g", "ӏ": "l", "А": "A", "В": "B", "Е": "E", "К": "K",
    "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "Α": "A", "Β": "B", "Ε": "E",
    "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})


def skeleton(name: str) -> str:
    """What `name` looks like: NFKC-normalised, invisible format characters (zero-width spaces and joiners, word
    joiner, soft hyphen, byte-order mark, direction marks) removed, look-alike letters as their Latin letter."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", name) if unicodedata.category(ch) != "Cf")
    return visible.translate(_LOOK_ALIKE)


def _odd_characters(names: Iterable[str]) -> str:
    seen = sorted({ch for n in names for ch in n if not ch.isascii()})
    return ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}" for ch in seen)


def look_alike_groups(groups: Iterable[object], col: str) -> list[str]:
    """One warning per group that looks like another group of column `col`, naming both spellings (with Python
    escapes for invisible characters) and the characters that differ."""
    by_look: dict[str, list[str]] = defaultdict(list)
    for group in sorted({str(g) for g in groups}):
        by_look[skeleton(group)].append(group)
    warnings = []
    for spellings in by_look.values():
        first = spellings[0]
        for other in spellings[1:]:
            warnings.append(f"groups {first!r} and {other!r} of '{col}' look alike but are spelled differently "
                            f"({_odd_characters([first, other])}); they are audited as separate groups. "
                            "Fix: correct the spelling in the data if they are the same group.")
    return warnings
