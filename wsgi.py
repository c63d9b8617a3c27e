"""The WSGI entry point for gunicorn: `gunicorn wsgi:app` (also `flask --app wsgi …`)."""

from cad.app import create_app
from cad.logs import configure_logging

configure_logging()  # the entry point's job, not the factory's (gunicorn logs its own lines itself)
app = create_app()
