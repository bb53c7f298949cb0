"""``SCHEDULER_SERIALIZER`` of cluster mode: requests in Redis as JSON, never pickle.

scrapy-redis pickles requests by default, so anyone who can write to the Redis server can run
code on every worker that pops a crafted entry. Here a queued request is the JSON form of
``Request.to_dict()``: loading it builds plain values and nothing else. An entry that is not
such JSON (a pickle, garbage) raises ``ValueError``; the queue logs and drops it.

``meta`` and ``cb_kwargs`` hold JSON values. Because ``to_dict()`` itself has bytes (headers,
body), a few tagged forms are also understood: bytes, tuples, dicts with non-string keys, and
the frozen dataclasses listed in :data:`TYPES` (the spiders pass a ``VehicleRecord`` to the
store-page callback), rebuilt from their fields, never imported by name from the payload.
Anything else raises ``TypeError`` on ``dumps``: the scheduler then keeps that request in the
worker that made it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from cwo_scrapy.parsing import VehicleRecord

#: Dataclasses a queued request may carry, by the tag written in the payload.
TYPES: dict[str, type] = {"VehicleRecord": VehicleRecord}
_TAGS = ("$bytes", "$tuple", "$dict", "$type")


def register(cls: type) -> None:
    """Allow instances of the dataclass ``cls`` (JSON-valued fields) in queued requests."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    TYPES[cls.__name__] = cls


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(_encode(obj, "request"), separators=(",", ":")).encode()


def loads(data: bytes | str) -> dict[str, Any]:
    try:
        obj = _decode(json.loads(data))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:  # incl. UnicodeDecodeError
        raise ValueError(f"not a JSON request ({type(exc).__name__})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("url"), str):
        raise ValueError("not a JSON request (no url)")
    return obj


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, where) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(t in value for t in _TAGS):
            return {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {"$dict": [[_encode(k, where), _encode(v, where)] for k, v in value.items()]}
    name = type(value).__name__
    if TYPES.get(name) is type(value):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {"$type": name, "fields": _encode(fields, where)}
    raise TypeError(f"{where}: a {name} is not a JSON value")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$bytes" in value:
        return base64.b64decode(value["$bytes"], validate=True)
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    if "$dict" in value:
        return {_decode(k): _decode(v) for k, v in value["$dict"]}
    if "$type" in value:
        cls = TYPES.get(value["$type"])
        if cls is None:
            raise ValueError(f"type {value['$type']!r} is not allowed")
        return cls(**_decode(value["fields"]))
    return {k: _decode(v) for k, v in value.items()}
