"""Names people give things (volunteers, units, teams, activities, items, definitions, ...): one rule.

Every name that enters the ledger passes through `clean_name`: it is normalised to Unicode
NFC (the same name typed on two phones compares equal), stripped, and refused when it is
empty, too long, or holds a character that hides what the name says or breaks storage:
control characters (NUL, tab, line breaks: category Cc), invisible format characters
(zero-width spaces and joiners, bidirectional overrides and isolates such as U+202E, the
byte-order mark: category Cf), line and paragraph separators, surrogates and unassigned
code points.  Private-use characters stay allowed: some rare characters of Chinese names
live there in older systems.
"""
from __future__ import annotations

import unicodedata

from ledger.errors import ValidationFailed

REFUSED_CATEGORIES = {  # Unicode category: (中文, English)
    "Cc": ("控制字符", "a control character"),
    "Cf": ("零宽字符、文字方向控制符等不可见字符", "an invisible format character: zero-width or bidi control"),
    "Zl": ("换行符", "a line separator"), "Zp": ("分段符", "a paragraph separator"),
    "Cs": ("无效字符", "a surrogate"), "Cn": ("未分配的字符", "an unassigned code point"),
}


def clean_name(value: object, field: str, *, max_length: int = 100, label: str = "名称",
               allow_empty: bool = False) -> str:
    """The name in NFC, stripped; refused (naming `field`) when empty, too long or hiding characters."""
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{label}必须是文字 ({field} must be text)", field=field)
    name = unicodedata.normalize("NFC", value).strip()
    if not name and not allow_empty:
        raise ValidationFailed(f"{label}不能为空 ({field} must not be empty)", field=field)
    if len(name) > max_length:
        raise ValidationFailed(f"{label}不能超过 {max_length} 个字 ({field} is longer than {max_length} characters)",
                               field=field)
    for character in name:
        refused = REFUSED_CATEGORIES.get(unicodedata.category(character))
        if refused is not None:
            code_point = f"U+{ord(character):04X}"
            raise ValidationFailed(f"{label}含有{refused[0]} {code_point}，请删除后重试 "
                                   f"({field} contains {refused[1]}, {code_point})", field=field, code_point=code_point)
    return name
