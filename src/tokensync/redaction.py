"""The one redaction of messages built from a URL or a driver's error: no password survives it.

A database password reaches a message in many spellings: as written in the URL (percent-encoded,
or with a bare `%`, a space or an `@` that should have been encoded), decoded, as a keyword DSN's
`password=...`, or as a URL's `?password=` parameter. `redact` removes all of them: the spellings
of the given URL's password, and anything in the text shaped like a credential.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

MASK = "***"

# scheme://user:password@ : the password runs to the last @ of the whitespace-free run.
_URL_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)\S*@")
# password=secret, password='se cret', password = "x" (keyword DSNs and libpq's echoes of them)
_KEYWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s&,;]+)", re.I)


def redact(text: str, url: str | None = None) -> str:
    """`text` with `url`'s password, in every spelling, and any credential shape masked."""
    text = _URL_USERINFO.sub(lambda m: m.group("head") + MASK + "@", text)
    text = _KEYWORD.sub(lambda m: m.group("head") + MASK, text)
    for secret in sorted(url_secrets(url) if url else (), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def url_secrets(url: str) -> set[str]:
    """Every spelling in which the password of a database URL or keyword DSN may be echoed."""
    found: set[str] = set()
    userinfo, _, query = split_userinfo(url)
    if userinfo is not None and ":" in userinfo:
        password = userinfo.split(":", 1)[1]
        found |= {password, unquote(password)}
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key.lower() == "password":
            found |= {value}
    for match in _KEYWORD.finditer(url):
        value = match.group(2)
        found |= {value, value.strip("'\"")}
    return {s for s in found if s}


def split_userinfo(url: str) -> tuple[str | None, str, str]:
    """(userinfo, the URL without it, the query string) of a scheme://userinfo@host/... URL.

    The userinfo ends at the last `@` before the query: an `@` in a password that should have
    been percent-encoded is taken as part of it (libpq would split at the first one and send
    the rest of the password to DNS as a host name, and into its error message).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None, url, ""
    head, qmark, query = rest.partition("?")
    if "@" not in head:
        return None, url, query
    userinfo, _, hosts = head.rpartition("@")
    return userinfo, f"{scheme}://{hosts}{qmark}{query}", query
