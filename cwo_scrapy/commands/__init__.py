"""Project commands: ``scrapy replica`` and ``scrapy cleansession``."""
