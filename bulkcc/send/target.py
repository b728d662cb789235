"""Where requests go and with which key.

The key comes from DIALPAD_API_KEY or a file, never from a command-line value
(those end up in shell history and process lists), and it never appears in any
output, journal or results file: `Redactor` replaces it with `****` wherever
text from the API enters (the client's error messages) and again in the CLI's
consoles, since a server may echo the key back. A key is checked before any
request: a file's BOM and surrounding blanks are dropped, a control or
invisible character or bytes that are not UTF-8 are refused (they would make an
invalid header, or a key that can never work), and a key file others may read
gets a warning, as ssh gives. Plain http is refused except on loopback, so a
key never crosses a network unencrypted.
"""

from __future__ import annotations

import base64
import html
import ipaddress
import json
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from bulkcc.errors import UsageError
from bulkcc.send.pacing import DEFAULT_RATE_PER_MIN

PRODUCTION_URL = "https://dialpad.com"
SANDBOX_URL = "https://sandbox.dialpad.com"
KEY_ENV = "DIALPAD_API_KEY"


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Target:
    base_url: str
    simulator: bool = False

    @property
    def is_loopback(self) -> bool:
        return self.simulator or is_loopback(self.base_url)

    @property
    def name(self) -> str:
        """How journals and plan files record the target: its base URL, or "simulator"
        (whose port changes with every run)."""
        return "simulator" if self.simulator else self.base_url

    def flag(self) -> str:
        """The options that choose this target again, for messages."""
        if self.simulator:
            return "--simulator"
        if self.base_url == SANDBOX_URL:
            return "--sandbox"
        if self.base_url == PRODUCTION_URL:
            return "no target option (the default, https://dialpad.com)"
        return f"--base-url {self.base_url}"


def resolve_target(base_url: str | None, sandbox: bool, simulator: bool) -> Target:
    """The target the flags name; refuses contradictions and plain http off loopback."""
    chosen = [name for name, on in (("--base-url", base_url), ("--sandbox", sandbox), ("--simulator", simulator)) if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one target: {' or '.join(chosen)}")
    if simulator:
        return Target(base_url="http://127.0.0.1", simulator=True)  # the real port is known once it starts
    url = (base_url or (SANDBOX_URL if sandbox else PRODUCTION_URL)).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url {url!r} is not an http(s) URL, e.g. https://dialpad.com")
    if parts.scheme == "http" and not is_loopback(url):
        raise UsageError(f"refusing plain http to {parts.hostname}: the API key would cross the network "
                         "unencrypted; use https (plain http is allowed only for loopback addresses)")
    return Target(base_url=url)


def check_rate(rate_per_min: int, target: Target) -> None:
    """Dialpad allows 1200 a minute on this endpoint: only a local target may go faster."""
    if rate_per_min <= 0:
        raise UsageError("--rate-limit must be a positive number of requests per minute")
    if rate_per_min > DEFAULT_RATE_PER_MIN and not target.is_loopback:
        raise UsageError(f"--rate-limit {rate_per_min} is over Dialpad's limit of {DEFAULT_RATE_PER_MIN} "
                         "per minute for this endpoint")


def load_api_key(key_file: Path | None, *, required: bool = True,
                 warn: Callable[[str], None] | None = None) -> str | None:
    """The key from --api-key-file, else DIALPAD_API_KEY; refused if it cannot be a key.

    `warn` is told when the key file can be read by group or others.
    """
    if key_file is not None:
        try:
            raw = key_file.read_bytes()
            mode = key_file.stat().st_mode
        except OSError as exc:
            raise UsageError(f"cannot read --api-key-file {key_file}: {exc.strerror}") from exc
        where = f"--api-key-file {key_file}"
        key = _decoded_key(raw, where)
        if not key:
            raise UsageError(f"{where} is empty")
        check_key(key, where)
        if warn is not None and os.name == "posix" and mode & 0o077:
            warn(f"warning: {where} is accessible by group or others (mode {stat.S_IMODE(mode):04o}): anyone "
                 f"who can log in here may read the key; make it private with: chmod 600 {key_file}")
        return key
    key = os.environ.get(KEY_ENV, "").strip().lstrip("\ufeff")
    if not key and required:
        raise UsageError(f"no API key: set {KEY_ENV} or pass --api-key-file PATH")
    if key:
        check_key(key, KEY_ENV)
    return key or None


def _decoded_key(raw: bytes, where: str) -> str:
    """The file's text without a BOM and surrounding blanks; refused unless it is UTF-8."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"{where} is UTF-16 text (as Notepad's \"Unicode\" saves it): save it as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where} is not UTF-8 text (byte {exc.start + 1} is 0x{raw[exc.start]:02x}): "
                         "it should hold only the API key; copy the key into it again") from None
    return text.strip()


def check_key(key: str, where: str) -> None:
    """A key is one word of visible ASCII, as Dialpad issues them: anything else is a copying accident
    (a smart quote, a zero-width space, a line break) that could never work, or not even be sent."""
    for position, char in enumerate(key, start=1):
        if 0x21 <= ord(char) <= 0x7E:
            continue
        if char.isspace() or not char.isprintable():
            kind = "a blank, control or invisible character"
        else:
            kind = f"a character that is not plain ASCII ({char!r})"
        raise UsageError(f"the API key in {where} holds {kind}: U+{ord(char):04X} at character {position}. "
                         "A key is one word of letters, digits and punctuation: copy it again")


REDACTED = "****"
# `bulkcc simulate`'s default key, which it prints itself for loopback use: no secret, and masking
# the word would garble every "simulator" bulkcc prints ("That was the built-in ****").
SIMULATOR_KEY = "simulator"
# A token after "Bearer" in an echoed header (not the word "token" in a message, nor a name such as
# "Bearer Settlements": the choke point scrubs every call center's name, and a name changed there no
# longer finds its own center, so a create of it was made again on every run). A token holds a digit,
# or is long; prose words do neither.
_BEARER = re.compile(r"(?i)\b(Bearer)(\s+|%20|\+)([A-Za-z0-9._~+/=:-]{8,})")
_TOKEN_LENGTH = 24


def _bearer_token(match: re.Match[str]) -> str:
    token = match.group(3)
    if len(token) < _TOKEN_LENGTH and not any(char.isdigit() for char in token):
        return match.group()
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


# JSON's (and Python's) escapes of a character: \u0041, \x41.
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})")
_MIN_PART = 4  # the shortest start of a key masked at the end of a text cut short (fewer tell nothing)


def _unescaped(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def _encoded_forms(secret: str) -> set[str]:
    """The key as an echo may carry it: percent-encoded (a URL; as `quote` does it, every byte, either
    case), JSON-escaped, and base64 (a Basic header, a token, at any of the three offsets it can start
    at: only the part that does not depend on the bytes around it)."""
    raw = secret.encode()
    every = "".join(f"%{byte:02X}" for byte in raw)
    forms = {secret, quote(secret, safe=""), quote(secret, safe="").lower(), every, every.lower(),
             json.dumps(secret)[1:-1]}
    if len(raw) >= 12:  # a shorter key's base64 core would be a few common letters
        for offset in range(3):
            whole = b"\0" * offset + raw
            start, end = (4 if offset else 0), len(whole) // 3 * 4
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                forms.add(encode(whole).decode()[start:end])
    return {form for form in forms if form}


class Redactor:
    """Replaces API keys (and any `Bearer` token) in text with `****`.

    The key is also caught in the forms an echo may take: percent-encoded (in a
    URL), JSON-escaped (in a body quoted raw), base64, and any mix of escapes a
    decoder would undo (`\u0073k-\u0074est`, `%73k-test`): a text that shows the
    key only once its escapes are decoded is given decoded, and redacted. A text
    cut short (`cut`) also loses a key's first characters at its end.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._forms: list[str] = []
        self._any = re.compile("(?!)")  # matches nothing
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or secret == SIMULATOR_KEY:
            return
        self._forms = sorted(set(self._forms) | _encoded_forms(secret), key=len, reverse=True)  # longest first
        self._any = re.compile("|".join(map(re.escape, self._forms)))  # one scan of a text for every form

    def _holds(self, text: str) -> bool:
        return self._any.search(text) is not None

    def _decoded(self, text: str) -> str:
        """`text` with its escapes decoded if only that shows a key, else as it is."""
        if not self._forms:
            return text
        if "%" in text and (decoded := unquote(text)) != text and self._holds(decoded):
            text = decoded
        if "\\" in text and (decoded := _unescaped(text)) != text and self._holds(decoded):
            text = decoded
        if "&#" in text and (decoded := html.unescape(text)) != text and self._holds(decoded):
            text = decoded
        return text

    def __call__(self, text: str) -> str:
        if self._forms:
            text = self._any.sub(REDACTED, self._decoded(text))
        if "bearer" not in text.lower():  # the regex scans case-blind at every position: 0.4 s over a 16 MB plan
            return text
        return _BEARER.sub(_bearer_token, text)

    def cut(self, text: str) -> str:
        """A text cut short (a bounded read, a first few hundred bytes) redacted: a key the cut split leaves
        its first characters at the end, and those go too."""
        text = self(text)
        for form in self._forms:
            for size in range(min(len(form) - 1, len(text)), _MIN_PART - 1, -1):
                if text.endswith(form[:size]):
                    return text[:-size] + REDACTED
        return text
