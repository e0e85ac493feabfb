"""Credentials never leave the process: URLs are shown without their user:password part.

A URL like `http://user:pw@host:8000` still works for requests (httpx sends it as basic auth), but
every message, event, trace, record and panel shows `http://***@host:8000` instead.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL_WITH_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")


def redact_url(url: str) -> str:
    """The URL with any user:password replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with URL credentials and each given secret (e.g. an API key) masked."""
    text = _URL_WITH_USERINFO.sub(r"\1***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
