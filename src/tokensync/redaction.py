"""The one redaction of text that may hold a secret: a database URL or a driver's error, and
whatever a provider or a platform answers (which may echo what it was sent).

A database password reaches a message in many spellings: as written in the URL (percent-encoded,
or with a bare `%`, a space or an `@` that should have been encoded), decoded, as a keyword DSN's
`password=...`, or as a URL's `?password=` parameter. `redact` removes all of them: the spellings
of the given URL's password, and anything in the text shaped like a credential.

A provider or a platform may echo the refresh token, the client secret, the Basic header or the
bearer token in its error code or description, in any encoding. `scrub` takes the `Secrets` in
play for the request and masks each of them raw, percent-encoded (either case, `+` for a space),
JSON-escaped and in base64, and any run of RUN characters of one (what a cut or a line break
leaves); then the text is made printable and cut. `safe_code` keeps a provider's error code only
when it is a short word.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus

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


def bare_url(url: str) -> str:
    """A URL as a message may show it: scheme, host, port and path; never its user-info, query
    or fragment (where a credential may be written), printable and bounded."""
    scheme, sep, rest = re.split(r"[?#]", url, maxsplit=1)[0].rpartition("://")
    host, slash, path = rest.partition("/")
    return bounded(printable(f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"), 120)


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


# -- text from outside: provider and platform answers --------------------------------------------

# The longest stretch of a provider's text a message keeps, after redaction.
MAX_TEXT = 300
# What a stored message is cut to (connections.last_error_message, event payloads).
MAX_MESSAGE = 500
# Any run of this many characters of a secret is masked, wherever the rest of it went.
RUN = 12
# Text past this is not looked at (nor kept): a body of megabytes is cut before it is read.
# What it leaves of a secret at the cut is under RUN characters, and lies far past MAX_MESSAGE.
_SCAN = 4 * 1024
_SAFE_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Credentials by their shape, whoever's they are: a field of a form, a query or a JSON object,
# and the value of an Authorization header (a credential is not one lowercase word).
_FIELD = re.compile(
    r"(?P<head>(?:\b(?:client_secret|refresh_token|access_token|id_token|code_verifier|password)"
    r"[\"']?\s*[=:]\s*[\"']?|\b(?:token|secret)=|\"(?:token|secret)\"\s*:\s*\"))[^\s&,;\"'<>]+",
    re.I,
)
_SCHEME = re.compile(
    r"(?P<head>\b(?:Bearer|Basic|token)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.I
)
_LINE_BREAKS = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_JSON_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


@dataclass(frozen=True)
class Secrets:
    """The secrets in play for one request: every spelling of each is masked by `scrub`.

    `values` are the request's own (a refresh token, the client secret, a bearer token); `also`
    the configured ones every request shares (client secrets, webhook secrets, encryption keys).
    """

    values: tuple[str, ...] = field(default=(), repr=False)
    also: Secrets | None = field(default=None, repr=False)

    def plus(self, *values: str | None) -> Secrets:
        """These secrets and `values` (None and empty ones left out)."""
        return Secrets(tuple(v for v in values if v), self)

    @cached_property
    def _patterns(self) -> tuple[frozenset[bytes], frozenset[bytes]]:
        runs: set[bytes] = set()
        whole: set[bytes] = set()
        for secret in self.values:
            for spelled in _spellings(secret):
                if len(spelled) >= RUN:
                    runs.update(spelled[i : i + RUN] for i in range(len(spelled) - RUN + 1))
                elif spelled:
                    whole.add(spelled)
        if self.also is not None:
            more_runs, more_whole = self.also._patterns
            runs |= more_runs
            whole |= more_whole
        return frozenset(runs), frozenset(whole)


NO_SECRETS = Secrets()


def scrub(text: object, secrets: Secrets, limit: int = MAX_TEXT) -> str:
    """Text from outside as a message may hold it: printable, on one line, every spelling of
    every secret and anything shaped like a credential masked, then cut to `limit` characters.

    Masked before it is cut, so a cut never leaves the first characters of a secret behind.
    """
    if not isinstance(text, str):
        return ""
    text = printable(text[:_SCAN])
    text = redact(_SCHEME.sub(_scheme_value, _FIELD.sub(_masked, text)))
    for _ in range(8):  # a mask next to what is left can make a new run: until nothing changes
        masked = _mask_runs(text, secrets)
        if masked == text:
            break
        text = masked
    return bounded(text, limit)


def safe_code(value: object, secrets: Secrets) -> str | None:
    """A provider's error code when it is a short word of ours to keep ([A-Za-z0-9_.-], at most
    64 characters, no secret in it); None otherwise."""
    if not isinstance(value, str) or not _SAFE_CODE.fullmatch(value):
        return None
    return value if _mask_runs(value, secrets) == value else None


def scrub_error(error: object, secrets: Secrets) -> dict[str, str | None]:
    """An event's stored {code, message} as it may be sent again: both cleaned."""
    given = error if isinstance(error, dict) else {}
    code = given.get("code")
    message = given.get("message")
    return {
        "code": (safe_code(code, secrets) or "provider_error") if code is not None else None,
        "message": scrub(message, secrets, MAX_MESSAGE) if message is not None else None,
    }


def stored_error(code: str, message: str) -> tuple[str, str]:
    """An error as the store keeps it, whoever made it: a short code, a bounded printable
    message (the secrets were masked where the text came in, before any cut)."""
    return safe_code(code, NO_SECRETS) or "provider_error", bounded(printable(message), MAX_MESSAGE)


def printable(text: str) -> str:
    """`text` on one line: line breaks and tabs become spaces; control, format (bidirectional
    overrides, zero-width) and unassigned characters go."""
    kept = []
    for char in text:
        if char in _LINE_BREAKS:
            kept.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(char)
    return " ".join("".join(kept).split())


def bounded(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying so with "..."."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _masked(match: re.Match[str]) -> str:
    return match.group("head") + MASK


def _scheme_value(match: re.Match[str]) -> str:
    value = match.group("value")
    return match.group(0) if value.isalpha() and value.islower() else _masked(match)


def _spellings(secret: str) -> set[bytes]:
    """A secret as a server may echo it, less what `_views` decode (percent and JSON escapes):
    as sent, decoded once more, percent-encoded (so that a view decodes a second encoding),
    normalised like the text around it, and in base64 (the Basic header's `id:secret`, padded or
    not, standard or URL alphabet) at each of its 3 alignments."""
    encoded = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
    forms = {*encoded, printable(secret), unquote_plus(secret)}
    found = {form.encode() for form in forms if form}
    for form in encoded:
        data = form.encode()
        for shift in range(3):
            b64 = base64.b64encode(b"\0" * shift + data)
            core = b64[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6]
            if len(core) >= RUN:  # a shorter one would mask innocent words
                found |= {core, core.translate(_URLSAFE)}
    return found


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _mask_runs(text: str, secrets: Secrets) -> str:
    """`text` with each stretch that spells a run of a secret (in any of `_views`) masked."""
    runs, whole = secrets._patterns
    if not runs and not whole:
        return text
    spans: list[tuple[int, int]] = []
    for data, starts, ends in _views(text):
        for i in range(len(data) - RUN + 1):
            if data[i : i + RUN] in runs:
                spans.append((starts[i], ends[i + RUN - 1]))
        for spelled in whole:
            at = data.find(spelled)
            while at >= 0:
                spans.append((starts[at], ends[at + len(spelled) - 1]))
                at = data.find(spelled, at + 1)
    if not spans:
        return text
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    out, last = [], 0
    for start, end in merged:
        out += [text[last:start], MASK]
        last = end
    out.append(text[last:])
    return "".join(out)


View = tuple[bytes, list[int], list[int]]
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}|\+")
_JSON = re.compile(
    r'\\(?:u[dD][89abAB][0-9A-Fa-f]{2}\\u[dD][c-fC-F][0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|["\\/bfnrt])'
)


def _views(text: str) -> list[View]:
    """`text` as bytes in each way it may be read: as written, percent-decoded (`+` a space),
    JSON-unescaped; each byte with the span of the characters that wrote it."""
    views = [_view(text, None)]
    if "%" in text or "+" in text:
        views.append(_view(text, _PERCENT))
    if "\\" in text:
        views.append(_view(text, _JSON))
    return views


def _view(text: str, escape: re.Pattern[str] | None) -> View:
    data = bytearray()
    starts: list[int] = []
    ends: list[int] = []

    def literal(start: int, end: int) -> None:
        part = text[start:end]
        if part.isascii():
            data.extend(part.encode())
            starts.extend(range(start, end))
            ends.extend(range(start + 1, end + 1))
            return
        for i, char in enumerate(part, start):
            chunk = char.encode("utf-8", "surrogatepass")
            data.extend(chunk)
            starts.extend([i] * len(chunk))
            ends.extend([i + 1] * len(chunk))

    last = 0
    for match in escape.finditer(text) if escape is not None else ():
        literal(last, match.start())
        chunk = _decoded(match.group())
        data.extend(chunk)
        starts.extend([match.start()] * len(chunk))
        ends.extend([match.end()] * len(chunk))
        last = match.end()
    literal(last, len(text))
    return bytes(data), starts, ends


def _decoded(escape: str) -> bytes:
    """The bytes one escape (`%2F`, `+`, `\\n`, `\\u00e9`, a `\\ud83d\\ude00` pair) stands for."""
    if escape == "+":
        return b" "
    if escape[0] == "%":
        return bytes([int(escape[1:], 16)])
    if escape[1] != "u":
        return _JSON_ESCAPES[escape[1]].encode()
    if len(escape) == 12:
        high, low = int(escape[2:6], 16), int(escape[8:12], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).encode()
    return chr(int(escape[2:6], 16)).encode("utf-8", "surrogatepass")
