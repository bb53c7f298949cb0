"""aiohttp handlers for the replica's CWO endpoints (pages, ``ymm-temp.php``, fitment API).

The server (``server.py``) wraps these routes with the WAF middleware, counters and faults;
this module only answers requests, fast. Two decoding rules matter to scrapers: fitment API
paths are split on the RAW path and each segment percent-decoded on its own (``%2F`` stays
inside a value, ``+`` stays a plus), and query strings decode ``+`` as a space (PHP's rule).
"""

from __future__ import annotations

import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from cwo_scrapy.replica import render
from cwo_scrapy.replica.catalogue import Catalogue
from cwo_scrapy.replica.variants import vehicle_record
from cwo_scrapy.replica.vehicles import OPTIONS, VehicleSpec, default_combo, vehicle_spec

API_PATH = "/fitment/vehicle/co"
SESSION_COOKIE = "PHPSESSID"
_SID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_NOT_FOUND = b'{"message":"Not Found"}'
_INVALID_SESSION = b'{"error":"Invalid session"}'
_OPTION_FLAGS = {"getSuspension": 0, "getTrimming": 1, "getRubbing": 2}
_SET_FIELDS = ("vehicle_type", "year", "make", "model", "trim", "drive", "chassis")


# -- PHP sessions ---------------------------------------------------------------------------------
@dataclass(slots=True)
class PhpSession:
    """Server-side session: the vehicle stored by the last ``type=set`` call."""

    sid: str
    last_seen: float
    vehicle: dict[str, str] | None = None


class PhpSessions:
    """In-memory ``PHPSESSID`` table with an optional idle TTL and an LRU size bound.

    Used from one asyncio loop only; no method awaits, so no lock is needed.
    """

    def __init__(
        self,
        ttl: float | None = None,
        *,
        max_sessions: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._clock = clock
        self._table: OrderedDict[str, PhpSession] = OrderedDict()
        self.created = 0  # sessions started since the last stats reset (``php_sessions_created``)

    @staticmethod
    def new_id() -> str:
        """26 characters of [a-z0-9], like PHP's default session ids."""
        return "".join(_SID_ALPHABET[b % 36] for b in secrets.token_bytes(26))

    def create(self) -> PhpSession:
        sid = self.new_id()
        session = PhpSession(sid, self._clock())
        self._table[sid] = session
        self.created += 1
        while len(self._table) > self.max_sessions:
            self._table.popitem(last=False)
        return session

    def get(self, sid: str | None) -> PhpSession | None:
        """The live session for ``sid`` (refreshing its idle timer), or None."""
        if not sid:
            return None
        session = self._table.get(sid)
        if session is None:
            return None
        now = self._clock()
        if self.ttl is not None and now - session.last_seen > self.ttl:
            del self._table[sid]
            return None
        session.last_seen = now
        self._table.move_to_end(sid)
        return session

    def expire_all(self) -> int:
        """Forget every session (the control endpoint's ``expire_sessions``); returns how many."""
        count = len(self._table)
        self._table.clear()
        return count

    def __len__(self) -> int:
        return len(self._table)


@dataclass
class SiteState:
    """What the site handlers share: the catalogue, the data seed and the PHP sessions."""

    seed: int = 0
    session_ttl: float | None = None
    record_schema: str = "full"  # variants.RECORD_SCHEMAS
    markup: str = "strict"  # variants.MARKUPS
    catalogue: Catalogue = field(default_factory=Catalogue.load)
    sessions: PhpSessions = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = PhpSessions(self.session_ttl)

    def spec(self, year: str, make: str, model: str, trim: str, drive: str) -> VehicleSpec | None:
        vehicle = self.catalogue.get(year, make, model, trim, drive)
        return None if vehicle is None else vehicle_spec(vehicle, self.seed)


# -- helpers --------------------------------------------------------------------------------------
def _query(request: web.Request) -> dict[str, str]:
    """Query parameters, first value wins; ``+`` decodes to a space, ``%2B`` to a plus."""
    raw = request.rel_url.raw_query_string
    if not raw:
        return {}
    out: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        out.setdefault(key, value)
    return out


def _json(body: bytes | Any, status: int = 200) -> web.Response:
    if not isinstance(body, bytes):
        body = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return web.Response(body=body, status=status, content_type="application/json")


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


# -- fitment API ----------------------------------------------------------------------------------
def api_answer(state: SiteState, segments: list[str]) -> tuple[int, Any]:
    """(status, JSON value) for decoded API path segments; pure, so tests can call it."""
    cat = state.catalogue
    n = len(segments)
    if n == 0:
        return 200, cat.years()
    if segments[0] == "offsetguide":
        if n == 7 and segments[4] == "trim" and segments[6] == "drives":
            _, year, make, model, _, trim, _ = segments
            drives = cat.drives(year, make, model, trim)
            return (200, drives) if drives else (404, None)
        return 404, None
    if n == 1:
        makes = cat.makes(segments[0])
        return (200, makes) if makes else (404, None)
    if n == 2:
        models = cat.models(*segments)
        return (200, models) if models else (404, None)
    if n == 3:
        year, make, model = segments
        trims = cat.trims(year, make, model)
        if not trims:
            return 404, None
        labels: list[str] = []
        drives: set[str] = set()
        for trim in trims:
            for drive in cat.drives(year, make, model, trim):
                drives.add(drive)
                spec = state.spec(year, make, model, trim, drive)
                if spec is not None and spec.vehicle_type_label not in labels:
                    labels.append(spec.vehicle_type_label)
        return 200, {"vehicleType": labels, "drive": sorted(drives), "trim": trims}
    if n == 5:
        spec = state.spec(*segments)
        if spec is None:
            return 404, None
        return 200, vehicle_record(spec, state.record_schema)
    return 404, None


def api_segments(raw_path: str) -> list[str] | None:
    """Split the raw request path below ``API_PATH`` and percent-decode each segment alone."""
    path = raw_path.split("?", 1)[0]
    if not path.startswith(API_PATH):
        return None
    tail = path[len(API_PATH) :]
    if tail in ("", "/"):
        return []
    if not tail.startswith("/"):
        return None
    parts = tail[1:].split("/")
    if parts and parts[-1] == "":
        parts.pop()  # tolerate one trailing slash
    return [unquote(p, errors="strict") for p in parts]


def _api_handler(state: SiteState) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        try:
            segments = api_segments(request.rel_url.raw_path)
        except UnicodeDecodeError:
            segments = None
        if segments is None:
            return _json(_NOT_FOUND, 404)
        status, value = api_answer(state, segments)
        return _json(value if status == 200 else _NOT_FOUND, status)

    return handle


# -- pages ----------------------------------------------------------------------------------------
def _home_handler(state: SiteState) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        # Like the real homepage, a visit without a live session starts one: the session
        # middleware's session-init request relies on it after a 401.
        response = _html(render.render_home(state.catalogue))
        if state.sessions.get(request.cookies.get(SESSION_COOKIE)) is None:
            session = state.sessions.create()
            response.headers.add("Set-Cookie", f"{SESSION_COOKIE}={session.sid}; path=/")
        return response

    return handle


def _bp_handler(state: SiteState) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        q = _query(request)
        given: list[str | None] = []
        for key in ("year", "make", "model", "trim"):
            if key not in q:
                break
            given.append(q[key])
        given += [None] * (4 - len(given))
        return _html(render.render_bp(state.catalogue, *given))

    return handle


def _ymm_handler(state: SiteState) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        q = _query(request)
        flags = [i for name, i in _OPTION_FLAGS.items() if q.get(name) == "true"]
        session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
        if flags:
            if session is None:
                return _json(_INVALID_SESSION, 401)
            lists = OPTIONS.get(q.get("vehicle_type", "").lower())
            if lists is None:
                return _json({"error": "Invalid vehicle_type"}, 400)
            return _json(list(lists[flags[0]]))
        if q.get("type") != "set":
            return _json({"error": "Invalid request"}, 400)
        missing = [k for k in _SET_FIELDS if not q.get(k)]
        if missing:
            return _json({"error": f"Missing parameter: {missing[0]}"}, 400)
        created = session is None
        if session is None:
            session = state.sessions.create()
        session.vehicle = {k: q[k] for k in _SET_FIELDS}
        response = _json({"status": "success", "vehicle": session.vehicle})
        if created:
            response.headers.add("Set-Cookie", f"{SESSION_COOKIE}={session.sid}; path=/")
        return response

    return handle


def store_page(state: SiteState, q: dict[str, str], session: PhpSession | None) -> str:
    """The store page for a decoded query (and the session's vehicle when the query has none)."""
    page = q.get("page", "1")
    page_no = max(1, int(page)) if page.isdigit() else 1
    keys = ("year", "make", "model", "trim", "drive")
    if any(k in q for k in keys):
        chosen = {k: q.get(k, "") for k in keys}
        chassis = q.get("DRChassisID")
        vtype = q.get("vehicle_type")
    elif session is not None and session.vehicle:
        chosen = {k: session.vehicle[k] for k in keys}
        chassis = session.vehicle["chassis"]
        vtype = session.vehicle["vehicle_type"]
    else:
        return render.render_store(state.catalogue, None, None, page=page_no, seed=state.seed)
    spec = state.spec(*(chosen[k] for k in keys))
    if spec is not None and (
        (chassis is not None and chassis != spec.chassis_id)
        or (vtype is not None and vtype.lower() != spec.vehicle_type)
    ):
        spec = None  # the real store keys on DRChassisID; a mismatch finds nothing
    combo = None
    if spec is not None:
        stock = default_combo(spec.vehicle_type)
        combo = (
            q.get("suspension", stock[0]),
            q.get("modification", stock[1]),
            q.get("rubbing", stock[2]),
        )
    return render.render_store(
        state.catalogue,
        spec,
        combo,
        page=page_no,
        chosen=chosen,
        seed=state.seed,
        markup=state.markup,
    )


def _store_handler(state: SiteState) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        session = state.sessions.get(request.cookies.get(SESSION_COOKIE))
        return _html(store_page(state, _query(request), session))

    return handle


def add_site_routes(app: web.Application, state: SiteState) -> None:
    """Register every CWO endpoint of the replica (no WAF, no counters: the server adds those)."""
    r = app.router
    api = _api_handler(state)
    r.add_get(API_PATH, api)
    r.add_get(API_PATH + "/{tail:.*}", api)
    r.add_get("/", _home_handler(state))
    r.add_get("/makemodel/bp.php", _bp_handler(state))
    r.add_get("/api/ymm-temp.php", _ymm_handler(state))
    r.add_get("/store/wheels", _store_handler(state))
