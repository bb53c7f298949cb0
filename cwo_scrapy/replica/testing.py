"""Former name of :mod:`cwo_scrapy.replica.harness` (it is a harness, not tests); kept so imports
written against the old name keep working. New code imports ``cwo_scrapy.replica.harness``."""

from cwo_scrapy.replica.harness import *  # noqa: F403
