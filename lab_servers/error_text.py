"""`error_description` text as the specs allow it.

RFC 6749 §5.2 and RFC 6750 §3 limit `error_description` to printable ASCII without `"` and `\\`
(%x20-21 / %x23-5B / %x5D-7E), so it can travel in a header or a query string unharmed. The
lab's descriptions cite sections with "§" and draw arrows; this spells them out instead.
"""

from __future__ import annotations

_SPELLED_OUT = {"§": "section ", "→": "->", "—": "-", "–": "-", '"': "'", "\\": "/", "…": "..."}


def error_description(text: str) -> str:
    for char, replacement in _SPELLED_OUT.items():
        text = text.replace(char, replacement)
    return "".join(c if 0x20 <= ord(c) <= 0x7E else "?" for c in text)
