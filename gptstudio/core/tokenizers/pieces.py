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

Left out: colouring and grouping tokens (the app's widgets).
"""

from __future__ import annotations


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
