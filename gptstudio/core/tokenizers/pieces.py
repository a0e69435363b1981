"""How to show a token's bytes to a person, when they are not a whole character.

Byte-level BPE cuts text into bytes, not characters: "é" is two bytes and a token may hold just
one of them. Decoding such a token alone gives "�", which hides what the token is. `readable`
keeps every complete character and writes the loose bytes as hex in angle brackets instead:

    >>> readable("é".encode("utf-8"))
    'é'
    >>> readable(" é".encode("utf-8")[:2])
    ' ⟨c3⟩'
    >>> readable(bytes([0xA9, 0x21]))
    '⟨a9⟩!'

Text is shown to people in two more ways, both one character for one (so a character's offset
in the text is its offset on screen): `display_text` replaces control characters, which fonts
draw as nothing or as boxes, by their Unicode "control pictures" and keeps line breaks and tabs;
`visible` also makes spaces, tabs and newlines visible, for a token shown on its own:

    >>> display_text("a\\x00b\\r\\n")
    'a␀b␍\\n'
    >>> visible(" the\\n")
    '␣the↵'

Left out: colouring and grouping tokens (`explain.py` and the app's widgets).
"""

from __future__ import annotations

import regex


def loose_bytes(data: bytes) -> str:
    """Bytes written as hex in angle brackets: b"\\xe2\\x80" -> "⟨e2 80⟩"."""
    return "⟨" + " ".join(f"{b:02x}" for b in data) + "⟩"


def readable(data: bytes) -> str:
    """`data` as text: whole UTF-8 characters as themselves, any other bytes as `loose_bytes`."""
    out, start = [], 0
    while start < len(data):
        try:
            out.append(data[start:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            out.append(data[start:start + exc.start].decode("utf-8"))
            out.append(loose_bytes(data[start + exc.start:start + exc.end]))
            start += exc.end
    return "".join(out)


# C0 controls (but tab and newline) and DEL as their pictures U+2400..U+2421; the other line
# breaks Qt would honour (NEL, LINE/PARAGRAPH SEPARATOR) as the newline symbol U+2424.
_DISPLAY = {c: 0x2400 + c for c in range(0x20) if chr(c) not in "\t\n"}
_DISPLAY.update({0x7F: 0x2421, 0x85: 0x2424, 0x2028: 0x2424, 0x2029: 0x2424})
_VISIBLE = {**_DISPLAY, ord(" "): "␣", ord("\t"): "→", ord("\n"): "↵"}


_DISPLAYED = regex.compile("[" + "".join(map(chr, _DISPLAY)) + "]")


def has_controls(text: str) -> bool:
    """Whether `text` holds a character `display_text` replaces (a C scan per character kind:
    far quicker on megabytes than a regex or str.translate)."""
    return any(chr(c) in text for c in _DISPLAY)


def display_text(text: str) -> str:
    """`text` with control characters drawn as pictures (one character for one)."""
    if not has_controls(text):
        return text
    return _DISPLAYED.sub(lambda match: chr(_DISPLAY[ord(match.group())]), text,
                          concurrent=True)  # lets other threads run meanwhile


def visible(text: str) -> str:
    """`display_text` with spaces, tabs and newlines made visible too (one for one)."""
    return text.translate(_VISIBLE)
