"""Benchmarks of cwo-scrapy against the offline replica (``python -m bench``, ``make bench``).

Each benchmark lives in its own module and returns a dict of measured figures; ``bench.__main__``
runs the selected ones and merges their results into ``bench/results/latest.json`` and
``bench/results/latest.md``. Nothing here is part of the test suite: the figures are proven by
running, not asserted.
"""
