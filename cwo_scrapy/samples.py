"""Redacted response samples on disk: what ``scrapy fieldcheck`` and the drift breaker save.

A sample is meant to be attached to a bug report, so it must never carry a credential: the
``Cookie``/``Set-Cookie``/``Authorization`` headers are dropped, and every cookie value the
exchange carried (``aws-waf-token``, ``PHPSESSID`` and any other) is masked wherever it appears
in the body or the remaining headers (``cwo_scrapy.session.mask``). A folder holds the bodies
and a ``manifest.json``; :func:`load_samples` reads one back, so tests can use a folder saved
from the real site as fixtures. Where folders go is the one setting ``CWO_SAMPLES_DIR``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwo_scrapy.datadir import data_dir
from cwo_scrapy.session.mask import mask

if TYPE_CHECKING:
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

SAMPLES_DIR_NAME = "samples"  # under CWO_DATA_DIR when CWO_SAMPLES_DIR is ""
MANIFEST = "manifest.json"
#: Headers that are credentials as a whole: never saved.
_DROPPED_HEADERS = frozenset({"cookie", "set-cookie", "authorization", "proxy-authorization"})
#: ``name=value`` of the session cookies, wherever they appear (a URL, a script, a header).
_COOKIE_PAIR = re.compile(r"(?i)\b(aws-waf-token|PHPSESSID)=([^;,\s\"'&<>]+)")
#: ``"token": "..."`` in JSON or JavaScript (the WAF's verify answer, a captcha voucher).
_TOKEN_FIELD = re.compile(r"(?i)([\"']?\b\w*token\w*[\"']?\s*[:=]\s*[\"'])([^\"']{8,})([\"'])")


def samples_dir(settings: BaseSettings | Mapping[str, Any]) -> Path:
    """The samples folder: ``CWO_SAMPLES_DIR``, or ``<CWO_DATA_DIR>/samples`` when it is ""."""
    explicit = settings.get("CWO_SAMPLES_DIR")
    return Path(explicit) if explicit else data_dir(settings) / SAMPLES_DIR_NAME


def dated_dir(root: Path, now: datetime | None = None) -> Path:
    """``<root>/<UTC date>``: one folder per day of checks."""
    return root / (now or datetime.now(UTC)).strftime("%Y-%m-%d")


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _cookie_values(header: str) -> Iterable[str]:
    """Values of a ``Cookie`` header (``a=1; b=2``) or of one ``Set-Cookie`` header."""
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and value and name.lower() not in ("path", "domain", "expires", "max-age"):
            yield value.strip().strip('"')


def secrets_of(response: Response) -> set[str]:
    """Every cookie value sent with the request or set by the response."""
    found: set[str] = set()
    request = getattr(response, "request", None)
    headers = [(b"Cookie", v) for v in request.headers.getlist(b"Cookie")] if request else []
    headers += [(b"Set-Cookie", v) for v in response.headers.getlist(b"Set-Cookie")]
    for name, value in headers:
        text = _text(value)
        if name == b"Set-Cookie":
            text = text.split(";", 1)[0]
        found.update(_cookie_values(text))
    return {s for s in found if len(s) >= 4}


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret, session cookie pair and token-like field masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, mask(secret))
    text = _COOKIE_PAIR.sub(lambda m: f"{m[1]}={mask(m[2])}", text)
    return _TOKEN_FIELD.sub(lambda m: f"{m[1]}{mask(m[2])}{m[3]}", text)


def redact_headers(headers: Any, secrets: Iterable[str] = ()) -> dict[str, str]:
    """Scrapy headers as ``{name: value}`` without credential headers, values redacted."""
    out: dict[str, str] = {}
    for name, values in headers.items():
        key = _text(name)
        if key.lower() in _DROPPED_HEADERS:
            continue
        out[key] = redact_text(", ".join(_text(v) for v in values), secrets)
    return out


def _extension(response: Response) -> str:
    ctype = _text(response.headers.get(b"Content-Type") or b"").lower()
    return ".json" if "json" in ctype else ".html" if "html" in ctype else ".txt"


def save_sample(folder: Path, name: str, response: Response, **meta: Any) -> dict[str, Any]:
    """Write ``response``'s body, redacted, as ``<folder>/<name>.<ext>``; the manifest entry.

    ``meta`` (kind, parsed, note, ...) is merged into the entry; its strings are redacted too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    secrets = secrets_of(response)
    body = redact_text(response.body.decode("utf-8", errors="replace"), secrets)
    file = f"{name}{_extension(response)}"
    (folder / file).write_text(body, encoding="utf-8")
    entry: dict[str, Any] = {
        "file": file,
        "url": redact_text(response.url, secrets),
        "status": response.status,
        "headers": redact_headers(response.headers, secrets),
    }
    for key, value in meta.items():
        entry[key] = redact_text(value, secrets) if isinstance(value, str) else value
    return entry


def write_manifest(folder: Path, entries: list[dict[str, Any]], **extra: Any) -> Path:
    """``manifest.json``: when, and one entry per saved body."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    data = {"saved_at": datetime.now(UTC).isoformat(timespec="seconds"), **extra}
    data["samples"] = entries
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Sample:
    """One saved response read back: its manifest entry and its (redacted) body."""

    kind: str
    url: str
    status: int
    body: bytes
    entry: dict[str, Any]


def load_samples(folder: Path | str) -> dict[str, Sample]:
    """The samples of a folder by kind (the first one of each kind), from its manifest."""
    folder = Path(folder)
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    out: dict[str, Sample] = {}
    for entry in data["samples"]:
        if not entry.get("file"):
            continue
        kind = entry.get("kind") or entry["file"].rsplit(".", 1)[0]
        body = (folder / entry["file"]).read_bytes()
        out.setdefault(kind, Sample(kind, entry["url"], entry["status"], body, entry))
    return out
