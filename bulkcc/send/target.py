"""Where requests go and with which key.

The key comes from DIALPAD_API_KEY or a file, never from a command-line value
(those end up in shell history and process lists), and it never appears in any
output, journal or results file. Plain http is refused except on loopback, so
a key never crosses a network unencrypted.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

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


def load_api_key(key_file: Path | None, *, required: bool = True) -> str | None:
    """The key from --api-key-file, else DIALPAD_API_KEY."""
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read --api-key-file {key_file}: {exc.strerror}") from exc
        if not key:
            raise UsageError(f"--api-key-file {key_file} is empty")
        return key
    key = os.environ.get(KEY_ENV, "").strip()
    if not key and required:
        raise UsageError(f"no API key: set {KEY_ENV} or pass --api-key-file PATH")
    return key or None
