"""gunicorn settings for the centre (`gunicorn wsgi:app` reads this file from the working directory).

gevent workers: a console's or crew phone's Server-Sent-Events stream is a greenlet waiting on
its queue (a few kilobytes), not one of a handful of threads, so a worker holds a thousand
streams and still answers the API. PostgreSQL (psycopg 3), Redis and every socket wait
cooperatively under gevent's patching; work that holds the CPU for long (a report's PDF) runs
in a real thread (cad.blocking) so the streams keep flowing. HTTP keep-alive lets a crew phone's
GPS client and the consoles reuse a connection.

WARROOM_WORKER_CLASS=gthread gives the threaded workers of before (a stream holds a thread:
about 8 per worker, then the API stops answering); bench/shift.py measures both.
"""

import os
from typing import Any

worker_class = os.environ.get("WARROOM_WORKER_CLASS", "gevent")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) - 1))
threads = int(os.environ.get("WARROOM_WEB_THREADS", 8))  # gthread only
worker_connections = int(os.environ.get("WARROOM_WORKER_CONNECTIONS", 2000))  # gevent: streams + requests
keepalive = 15
# A gevent worker tells the master it is alive from its loop: a request that holds the CPU (a
# year's report computed in Python on SQLite takes ~55 s) must not get the worker killed.
timeout = 120

#: What each worker builds before it takes its first request (WARROOM_PRELOAD, comma-separated;
#: empty for nothing): the road graph and every vehicle profile ("roads"), the map layers the
#: pages open with ("layers"), the address index ("places"); the layers and the index come from one
#: read of the extract (cad/roads.py). All three, Porto Alegre: 8.5 s on a busy machine (15 s when each
#: read the extract); Balikpapan: 1.0 s (1.7 s). Without it the first dispatcher, map and address
#: search after a restart pay for them. Nothing is loaded when no extract is configured.
warroom_preload = {p.strip() for p in os.environ.get("WARROOM_PRELOAD", "roads,layers,places").split(",") if p.strip()}


def post_worker_init(worker: Any) -> None:
    """Runs in each worker after it loaded the app and before it accepts a connection."""
    import time

    from cad.app import settle_heap

    app = worker.wsgi
    extensions = getattr(app, "extensions", None)
    preload = warroom_preload
    if preload and extensions is not None:
        started = time.perf_counter()
        done = []
        roads = extensions["warroom.roads"]
        zooms = roads.PRELOAD_ZOOMS if "layers" in preload else ()
        if roads.preload(roads="roads" in preload, zooms=zooms, places="places" in preload):
            done += sorted({"roads", "layers", "places"} & preload)
        if done:
            worker.log.info("preloaded %s in %.1f s", ", ".join(done), time.perf_counter() - started)
    settle_heap()
