"""``CwoAddon``: the project's defaults and components for any Scrapy project.

``cwo_scrapy/settings.py`` imports ``cwo_scrapy.default_settings`` directly. A project that
wants cwo-scrapy's session middleware, pipelines and extensions without copying settings adds
``ADDONS = {"cwo_scrapy.addon.CwoAddon": 0}``: every ``CWO_*`` default is set at ``addon``
priority (``settings.py`` and ``-s`` still win) and every component is added unless the
project already names it (even as ``None``, its way of switching one off).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.utils.misc import load_object

from cwo_scrapy import default_settings

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

__all__ = ["COMPONENT_SETTINGS", "DEFAULTS", "CwoAddon", "register_defaults"]

#: Every ``CWO_*`` setting and its default, read from ``cwo_scrapy.default_settings``.
DEFAULTS: dict[str, Any] = {
    name: getattr(default_settings, name)
    for name in dir(default_settings)
    if name.startswith("CWO_")
}
#: The component dictionaries of ``cwo_scrapy.default_settings`` (middlewares, pipelines, ...).
COMPONENT_SETTINGS: tuple[str, ...] = (
    "DOWNLOADER_MIDDLEWARES",
    "ITEM_PIPELINES",
    "EXTENSIONS",
    "FEED_EXPORTERS",
)


def register_defaults(settings: BaseSettings, priority: str = "addon") -> None:
    """Set every ``CWO_*`` default at ``priority``; a value set at a higher one stays."""
    for name, value in DEFAULTS.items():
        settings.set(name, value, priority=priority)  # a no-op below a higher priority


class CwoAddon:
    """Registers the ``CWO_*`` defaults and the project's components (see the module doc)."""

    def update_settings(self, settings: BaseSettings) -> None:
        register_defaults(settings)
        for name in COMPONENT_SETTINGS[:-1]:
            for path, order in getattr(default_settings, name).items():
                settings.setdefault_in_component_priority_dict(name, load_object(path), order)
        exporters = settings.getdict("FEED_EXPORTERS")
        for fmt, path in default_settings.FEED_EXPORTERS.items():
            exporters.setdefault(fmt, path)
        settings.set("FEED_EXPORTERS", exporters, settings.getpriority("FEED_EXPORTERS") or 0)
