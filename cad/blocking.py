"""Work that holds the CPU for long, kept from stopping a gevent worker's streams.

Under gunicorn's gevent workers every stream and request of a worker shares one thread: a
report's PDF (WeasyPrint, seconds for a year) would stall every console on that worker, and
past gunicorn's timeout the worker would be killed. `off_the_loop` runs such a pure function
(plain values in and out, no database, no request context) in a real thread of gevent's pool,
so the streams keep flowing between the Python interpreter's switches. Anywhere else it
simply calls it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def patched_by_gevent() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))


def off_the_loop(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    if not patched_by_gevent():
        return fn(*args, **kwargs)
    import gevent

    result: R = gevent.get_hub().threadpool.apply(fn, args, kwargs)
    return result
