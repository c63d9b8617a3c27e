"""The WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from cad.app import create_app

app = create_app()
