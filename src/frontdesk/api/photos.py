"""Profile pictures for agents without a photo: their initials on a coloured disc (SVG)."""

from __future__ import annotations

import hashlib
from html import escape

_COLOURS = ("#2db2dd", "#6c5ce7", "#00b894", "#e17055", "#0984e3", "#d63031", "#e84393", "#636e72")


def initials(name: str) -> str:
    parts = [p for p in name.replace(".", " ").split() if p]
    letters = "".join(p[0] for p in parts[:2]).upper()
    return letters or "?"


def initials_svg(display_name: str) -> bytes:
    colour = _COLOURS[hashlib.sha256(display_name.encode()).digest()[0] % len(_COLOURS)]
    text = escape(initials(display_name))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        f'<circle cx="48" cy="48" r="48" fill="{colour}"/>'
        '<text x="48" y="48" dy=".35em" text-anchor="middle" font-family="Helvetica,Arial,sans-serif" '
        f'font-size="40" fill="#ffffff">{text}</text></svg>'
    ).encode()
