"""Shim for ``scrapyd-deploy``, which runs ``setup.py bdist_egg`` (and would otherwise write a
setup.py of its own that ships every package, bench/ and tests/ included). Everything is
declared in pyproject.toml."""

from setuptools import setup

setup()
