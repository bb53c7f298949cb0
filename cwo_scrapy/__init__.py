"""cwo-scrapy: vehicle fitment and wheel-size crawls of customwheeloffset.com."""
