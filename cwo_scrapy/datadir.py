"""Where the project keeps its files: one ``CWO_DATA_DIR`` for the session file and outputs.

A relative ``CWO_DATA_DIR`` (default ``data``) is taken from the project directory (the one
holding the nearest ``scrapy.cfg``), so an installed package run from the project directory,
or from any directory below it, finds the same files; with no ``scrapy.cfg`` around (Scrapyd,
``SCRAPY_SETTINGS_MODULE=cwo_scrapy.settings``) it is taken from the current directory. An
absolute path is used as it is. Plain Python (no Scrapy import): the session store uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = "data"
SESSION_FILE_NAME = "custom_wheel_offset_temp.json"


def project_dir() -> Path:
    """The directory of the nearest ``scrapy.cfg`` (searching upwards), else the current one."""
    cwd = Path.cwd()
    for directory in (cwd, *cwd.parents):
        if (directory / "scrapy.cfg").is_file():
            return directory
    return cwd


def data_dir(settings: Any) -> Path:
    """``CWO_DATA_DIR`` resolved; ``settings`` is anything with ``get(name)``."""
    raw = str(settings.get("CWO_DATA_DIR") or DEFAULT_DATA_DIR)
    path = Path(raw).expanduser()
    return path if path.is_absolute() else project_dir() / path


def session_file(settings: Any) -> str:
    """``CWO_SESSION_FILE`` as given, or ``<CWO_DATA_DIR>/custom_wheel_offset_temp.json``."""
    explicit = settings.get("CWO_SESSION_FILE")
    if explicit:
        return str(explicit)
    return str(data_dir(settings) / SESSION_FILE_NAME)
