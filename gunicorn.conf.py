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

worker_class = os.environ.get("WARROOM_WORKER_CLASS", "gevent")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) - 1))
threads = int(os.environ.get("WARROOM_WEB_THREADS", 8))  # gthread only
worker_connections = int(os.environ.get("WARROOM_WORKER_CONNECTIONS", 2000))  # gevent: streams + requests
keepalive = 15
# A gevent worker tells the master it is alive from its loop: a request that holds the CPU (a
# year's report computed in Python on SQLite takes ~55 s) must not get the worker killed.
timeout = 120
