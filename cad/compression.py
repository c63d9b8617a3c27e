"""Responses compressed for the wire (Flask-Compress): brotli or gzip, as the client accepts.

JSON, GeoJSON, HTML, JS and CSS are compressed; the Server-Sent-Events stream never is: a
compressor holds back bytes until it has enough, and each event must reach the consoles at once.
Two guards: its type, text/event-stream, is not in the list, and no streamed response is
compressed at all (tests/integration/test_road_layer.py holds both).
"""

from __future__ import annotations

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


def init_compression(app: Flask) -> None:
    # brotli first (smaller than gzip, and as fast at its level 4), gzip for every other client
    app.config.setdefault("COMPRESS_MIMETYPES", list(COMPRESSED_TYPES))
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_STREAMS", False)
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
