"""Normalisation of the ``tenantUrl`` query parameter and the Host header."""

from __future__ import annotations

from urllib.parse import unquote


def normalise_tenant(value: str | None) -> str:
    """Reduce ``https://Host:443/``, ``host/``, ``HOST`` … to the bare lower-case host name.

    Returns ``""`` when nothing usable is left.
    """
    if value is None:
        return ""
    text = unquote(value).strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    text = text.split("@")[-1]
    if text.startswith("["):
        return text.split("]", 1)[0] + "]"
    return text.split(":", 1)[0].strip(".")
