"""gunicorn settings for the centre (`gunicorn wsgi:app` reads this file from the working directory).

Threaded workers: a console's Server-Sent Events stream holds a thread, not a whole worker
process, and HTTP keep-alive lets a crew phone's GPS client (Traccar Client keeps its
connection) and the consoles reuse a connection instead of a TCP handshake per request.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) - 1))
threads = int(os.environ.get("WARROOM_WEB_THREADS", 8))
keepalive = 15
