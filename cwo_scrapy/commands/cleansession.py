"""``scrapy cleansession``: inspect or empty the persisted session without starting a crawl.

``--status`` is the original tool's report (cookies, storage path, whether the file exists, the
stored data) plus ages, User-Agent, generation and file health; it never modifies anything, so a
corrupt file is reported, not moved aside. ``--clean`` empties the store to ``{}`` through the
store's lock, so it is safe while another process crawls. Token values are masked unless
``--show-secrets``. Errors are one line on stderr with a non-zero exit: 2 for a usage error,
1 for an unusable store; ``--status`` also exits 1 when it reports a corrupt file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand

from cwo_scrapy.errorline import error_line
from cwo_scrapy.session import SessionState, SessionStoreError, StoreHealth, mask
from cwo_scrapy.session import store_from_settings as _store_from_settings
from cwo_scrapy.session.base import SessionStore
from cwo_scrapy.session.state import SECRET_KEYS

EXIT_ERROR = 1
EXIT_USAGE = 2


def format_duration(seconds: float) -> str:
    """Two largest units, e.g. ``"2 h 3 min"``; ages are read by people, not parsed."""
    if seconds < 0:
        return "in the future (clock skew?)"
    if seconds < 1:
        return "less than 1 s"
    total = int(seconds)
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        value, total = divmod(total, size)
        if value or parts:
            parts.append(f"{value} {name}")
        if len(parts) == 2:
            break
    return " ".join(part for part in parts if not part.startswith("0 ")) or "0 s"


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


class _Collect(logging.Handler):
    """Collects the store's warnings (e.g. a corrupt file moved aside) to print them plainly."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "--status [--json] [--show-secrets] | --clean"

    def short_desc(self) -> str:
        return "Show or empty the persisted session (PHPSESSID, aws-waf-token, User-Agent)"

    def long_desc(self) -> str:
        return (
            "Show (--status) or empty (--clean) the session store configured by "
            "CWO_SESSION_STORE and CWO_SESSION_FILE / CWO_REDIS_URL, without starting a crawl. "
            "Token values are masked (first 4 characters and the length) unless "
            "--show-secrets is given. --clean is safe while another process crawls."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        group = parser.add_argument_group(title="Session options")
        group.add_argument("--status", action="store_true", help="report the stored session")
        group.add_argument("--clean", action="store_true", help="empty the store to {}")
        group.add_argument(
            "--json", action="store_true", help="print a machine-readable JSON object"
        )
        group.add_argument(
            "--show-secrets",
            action="store_true",
            help="print token values in full instead of masked",
        )

    # ------------------------------------------------------------------------------- entry

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if hasattr(sys.stdout, "reconfigure"):  # a non-UTF-8 terminal must not crash on "…"
            sys.stdout.reconfigure(errors="backslashreplace")
        if args:
            self._fail(f"unexpected argument(s): {' '.join(args)}", EXIT_USAGE)
            return
        if opts.status == opts.clean:
            self._fail("choose exactly one of --status or --clean", EXIT_USAGE)
            return
        self._show = mask if not opts.show_secrets else (lambda v: v if v else "<none>")
        self._secrets_shown = bool(opts.show_secrets)
        try:
            assert self.settings is not None
            store = _store_from_settings(self.settings)
            if opts.status:
                self._status(store, as_json=opts.json)
            else:
                self._clean(store, as_json=opts.json)
        except (SessionStoreError, ValueError, OSError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._fail(message, EXIT_ERROR)

    def _fail(self, message: str, code: int) -> None:
        print(f"scrapy cleansession: error: {error_line(message)}", file=sys.stderr)
        self.exitcode = code

    # ------------------------------------------------------------------------------ status

    def _facts(self, health: StoreHealth) -> dict[str, Any]:
        """Everything --status reports, with secrets masked unless --show-secrets."""
        state = health.state
        now = time.time()
        facts: dict[str, Any] = {
            "store": health.kind,
            "location": health.location,
            "exists": health.exists,
            "size": health.size,
            "mode": None if health.mode is None else f"{health.mode:04o}",
            "readable": health.readable,
            "valid_json": health.valid_json,
            "healthy": health.ok,
            "problem": health.problem,
            "warnings": list(health.warnings),
            "secrets_shown": self._secrets_shown,
        }
        if state is None:  # unreadable or corrupt: nothing trustworthy to show
            facts.update(cookie_count=None, cookies=None, data=None)
            return facts
        data = {
            key: self._show(value) if key in SECRET_KEYS else value
            for key, value in state.to_json().items()
        }
        facts.update(
            cookie_count=len(state.cookies()),
            cookies={name: self._show(value) for name, value in state.cookies().items()},
            data=data,
            user_agent=state.user_agent,
            generation=state.generation,
        )
        for label, stamp in (
            ("token", state.token_obtained_at),
            ("phpsessid", state.phpsessid_obtained_at),
            ("session", state.created_at),
        ):
            age = None if stamp is None else now - stamp
            facts[f"{label}_age_seconds"] = None if age is None else round(age, 3)
            facts[f"{label}_age"] = None if age is None else format_duration(age)
            facts[f"{label}_obtained_at" if label != "session" else "session_created_at"] = (
                None if stamp is None else _utc(stamp)
            )
        return facts

    def _status(self, store: SessionStore, *, as_json: bool) -> None:
        health = store.health()
        if not health.readable:
            raise SessionStoreError(f"Cannot use session store {health.location}: {health.problem}")
        facts = self._facts(health)
        if as_json:
            print(json.dumps(facts, indent=2))
        else:
            print("\n".join(self._status_lines(facts, health)))
        if not health.ok:
            self.exitcode = EXIT_ERROR

    def _status_lines(self, facts: dict[str, Any], health: StoreHealth) -> list[str]:
        lines = [
            f"Session store: {facts['store']}",
            f"Storage path: {facts['location']}",
            f"File exists: {'yes' if facts['exists'] else 'no'}",
        ]
        if not health.exists:
            lines.append("File health: missing (an empty session; created on the first write)")
        else:
            details = f"{facts['size']} bytes, mode {facts['mode']}"
            if health.ok:
                lines.append(f"File health: {details}, valid JSON")
            else:
                lines.append(f"File health: {details}, PROBLEM: {health.problem}")
                lines.append(
                    "  A crawl or --clean would move it aside to "
                    f"{health.location}.corrupt-<UTC time> and start a fresh session."
                )
            lines.extend(f"  Warning: {warning}" for warning in health.warnings)
        if facts["cookies"] is None:
            return lines
        lines.append(f"Cookies: {facts['cookie_count']}")
        lines.extend(f"  {name}: {value}" for name, value in facts["cookies"].items())
        if facts["data"]:
            lines.append("Stored data:")
            lines.extend(f"  {key}: {value}" for key, value in facts["data"].items())
        else:
            lines.append("Stored data: {} (empty)")

        def age(label: str, key: str, stamp_key: str) -> str:
            if facts[key] is None:
                return f"{label}: unknown"
            return f"{label}: {facts[key]} (since {facts[stamp_key]})"

        lines += [
            age("Token age", "token_age", "token_obtained_at"),
            age("PHPSESSID age", "phpsessid_age", "phpsessid_obtained_at"),
            age("Session age", "session_age", "session_created_at"),
            f"User-Agent: {facts['user_agent'] or '<none>'}",
            f"Generation: {facts['generation']}",
        ]
        return lines

    # ------------------------------------------------------------------------------- clean

    def _clean(self, store: SessionStore, *, as_json: bool) -> None:
        before = store.health()
        if not before.readable:
            raise SessionStoreError(f"Cannot use session store {before.location}: {before.problem}")
        collector = _Collect()
        store_logger = logging.getLogger("cwo_scrapy.session")
        store_logger.addHandler(collector)
        try:
            store.clear()
        finally:
            store_logger.removeHandler(collector)
        for message in collector.messages:
            print(f"scrapy cleansession: warning: {message}", file=sys.stderr)
        removed: SessionState | None = before.state
        removed_data = (
            None
            if removed is None
            else {
                key: self._show(value) if key in SECRET_KEYS else value
                for key, value in removed.to_json().items()
            }
        )
        if as_json:
            print(
                json.dumps(
                    {
                        "cleaned": True,
                        "store": before.kind,
                        "location": before.location,
                        "existed": before.exists,
                        "was_corrupt": not before.ok,
                        "removed": removed_data,
                        "writes": store.writes,
                        "secrets_shown": self._secrets_shown,
                    },
                    indent=2,
                )
            )
            return
        if not before.ok:
            print(
                f"Session file was unusable; moved it aside and emptied the store: "
                f"{before.location}"
            )
        elif not removed_data:
            print(f"Session store was empty; nothing removed: {before.location}")
        else:
            assert removed is not None
            cookies = ", ".join(
                f"{name} {self._show(value)}" for name, value in removed.cookies().items()
            )
            print(f"Cleaned session store {before.location}")
            print(f"Removed {len(removed.cookies())} cookie(s){': ' + cookies if cookies else ''}")
            print("Removed data: " + ", ".join(f"{k}={v}" for k, v in removed_data.items()))
