"""Responses compressed for the wire (Flask-Compress): brotli or gzip, as the client accepts.

JSON, GeoJSON, HTML, JS and CSS are compressed; the Server-Sent-Events stream never is: a
compressor holds back bytes until it has enough, and each event must reach the consoles at once.
Two guards: its type, text/event-stream, is not in the list, and no streamed response is
compressed at all (tests/integration/test_road_layer.py holds both).

A view whose body is the same for everyone (the road layers) may `keep_compressed(key)`: its
compressed bytes are then kept per key and encoding, and later requests skip the compressor
(Porto Alegre's crew layer: 28 ms of gzip per request otherwise).
"""

from __future__ import annotations

import threading

from flask import Flask, Response, request
from flask_compress import Compress

EVENT_STREAM = "text/event-stream"
#: What is worth compressing; everything else (images, PDFs, the event stream) goes as it is.
COMPRESSED_TYPES = (
    "application/json",
    "application/geo+json",
    "application/javascript",
    "text/javascript",
    "text/css",
    "text/html",
    "text/plain",
    "text/csv",
    "text/xml",
    "application/xml",
    "image/svg+xml",
)


_KEEP = "warroom.keep_compressed"


def keep_compressed(key: str) -> None:
    """Keep this response's compressed bytes under `key`: the same key must always mean the same
    body (put its ETag in it), and there must be few keys (each is kept for the process's life)."""
    request.environ[_KEEP] = key  # this request's, never `g` (an app context may outlive a request)


class KeptCompressions:
    """Flask-Compress's cache backend: holds only what a view asked to keep, nothing else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        if not request.environ.get(_KEEP):
            return None
        with self._lock:
            return self._kept.get(key)

    def set(self, key: str, value: bytes) -> None:
        if request.environ.get(_KEEP):
            with self._lock:
                self._kept[key] = value


def init_compression(app: Flask) -> None:
    # brotli first (as small as gzip, and twice as fast at its level 4), gzip for every other client
    app.config.setdefault("COMPRESS_MIMETYPES", list(COMPRESSED_TYPES))
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_CACHE_BACKEND", KeptCompressions)
    app.config.setdefault("COMPRESS_CACHE_KEY", lambda asked: asked.environ.get(_KEEP, ""))
    app.extensions["warroom.compress"] = Compress(app)
    app.after_request(_static_file_in_memory)  # registered after, so it runs before the compressor


def _static_file_in_memory(response: Response) -> Response:
    """Flask streams a static file from disk, and streams are not compressed: read the consoles' JS
    and CSS (150 KB at most, Leaflet) into memory so that they are, the file closed with the response
    (Flask-Compress's own compression of streams left it open for the garbage collector)."""
    if (
        (request.endpoint or "").endswith("static")
        and response.status_code == 200
        and response.is_streamed
        and response.mimetype in COMPRESSED_TYPES
    ):
        response.direct_passthrough = False
        response.make_sequence()
    return response
