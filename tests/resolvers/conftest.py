"""The resolvers' crawl tests drive the session middleware's probe spider.

``session_crawl`` lives beside the middleware's tests (``tests/middleware/``), which also run it
as a script; putting that folder on ``sys.path`` lets these tests import it by the same name.
"""

import sys
from pathlib import Path

MIDDLEWARE_TESTS = str(Path(__file__).resolve().parents[1] / "middleware")
if MIDDLEWARE_TESTS not in sys.path:
    sys.path.insert(0, MIDDLEWARE_TESTS)
