"""``scrapy check`` contracts whose URL comes from the project's URL builder.

Scrapy's ``@url`` takes a fixed address, but the spiders' hosts are settings (``CWO_SITE_URL``,
``CWO_API_URL``): ``@cwo_url BUILDER NAME=VALUE ...`` calls ``spider.urls.BUILDER(**values)``
(``cwo_scrapy.urls``), so the same contracts run against the real site or, offline, against the
replica (``scrapy check fitment`` plus the ``-s`` flags ``scrapy replica`` prints). The values
also become the callback's keyword arguments (``cb_kwargs``) where the callback takes them; a
callback taking ``key`` (the vehicle record) gets them as one tuple.
"""

from __future__ import annotations

import inspect
from typing import Any

from scrapy.contracts import Contract


def _value(text: str) -> Any:
    return int(text) if text.isdigit() else text


class CwoUrlContract(Contract):
    """``@cwo_url makes year=2024``: the request URL and cb_kwargs from the URL builder."""

    name = "cwo_url"

    def __init__(self, method: Any, *args: Any) -> None:
        super().__init__(method, *args)
        self.method = method

    def adjust_request_args(self, args: dict[str, Any]) -> dict[str, Any]:
        builder, *pairs = self.args
        values = dict(pair.split("=", 1) for pair in pairs)
        values = {name: _value(text) for name, text in values.items()}
        spider = self.method.__self__
        args["url"] = getattr(spider.urls, builder)(**values)
        params = inspect.signature(self.method).parameters
        if "key" in params:
            args["cb_kwargs"] = {"key": tuple(values.values())}
        else:
            args["cb_kwargs"] = {k: v for k, v in values.items() if k in params}
        return args
