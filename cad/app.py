"""create_app(config=None): extensions, blueprints, error handlers."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from cad import clock
from cad.compression import init_compression
from cad.config import REPO_ROOT, Settings
from cad.db import db
from cad.errors import register_error_handlers
from cad.events import EventBus
from cad.rate_limits import shared_limits
from cad.services.fix_writer import close_fix_writer
from telephony.sms_sender import sms_sender

MIGRATIONS = REPO_ROOT / "migrations"
migrate = Migrate(directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)


class RowIdConverter(IntegerConverter):
    """`<int:…>` path ids beyond a 32-bit row id are 404, not an overflow in the driver."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2_147_483_647)
        super().__init__(map, *args, **kwargs)


def create_app(config: Mapping[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(settings.flask_config())
    app.config.update(config or {})
    app.config["WARROOM"] = settings = _settings_with(app, settings)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)

    app.url_map.converters["int"] = RowIdConverter
    db.init_app(app)
    migrate.init_app(app, db)
    if settings.proxies > 0:  # the client's address as the proxies in front say, not theirs
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies)  # type: ignore[method-assign]
    # the road graph's and the recommendation's modules (numpy, scipy, shapely: a second of imports)
    # come with the app, not with every import of cad.app
    from cad.roads import RoadNetwork
    from dispatch.runcards import RUN_CARDS, parse_run_cards

    app.extensions["warroom.bus"] = bus = EventBus()  # this app's consoles: never another app's
    with app.app_context():
        bus.attach(db.engine)
        app.extensions["warroom.limits"] = shared_limits(db.engine, settings.redis_url)
    app.extensions["warroom.roads"] = RoadNetwork(
        settings.roads_path, settings.instance_path / "roads", clock.now, settings.congestion_ttl_s
    )
    app.extensions["warroom.sms"] = sms_sender(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from, settings.twilio_api_url or None
    )

    from cad.api import api_blueprint
    from cad.api.gps import gps, gps_api
    from cad.api.sip_agents import sip_agents
    from cad.api.sms import sms
    from cad.scheduler import AckTimers
    from cad.web.crew_link import crew_pages
    from cad.web.i18n import init_i18n
    from cad.web.pages import pages
    from cad.web.security import init_security

    app.register_blueprint(pages)  # the consoles' pages: /, /login, /dispatcher, …
    app.register_blueprint(crew_pages)  # a crew's phone page, opened from its dispatch SMS: /c/<code>
    app.register_blueprint(api_blueprint())  # the JSON API: /api/v1/… (incidents, calls, units, …)
    app.register_blueprint(gps)  # GPS devices, OsmAnd/Traccar protocol: /gps/osmand
    app.register_blueprint(gps_api)  # GPS devices, JSON batches: /api/v1/positions
    app.register_blueprint(sip_agents)  # the SIP agents' journal entries and outbox: /telephony/sip/…
    app.register_blueprint(sms)  # Twilio's inbound-SMS webhook: /telephony/twilio/sms
    init_security(app)
    init_i18n(app)
    app.extensions["warroom.timers"] = AckTimers(app)
    app.extensions["warroom.run_cards"] = (
        parse_run_cards(Path(settings.run_cards_path).read_text()) if settings.run_cards_path else RUN_CARDS
    )
    register_error_handlers(app)
    init_compression(app)
    # the vehicles' GPS endpoints are answered in front of Flask's request handling (issue 20)
    from cad.api.gps_wsgi import install as answer_devices_first

    answer_devices_first(app)
    return app


def _settings_with(app: Flask, settings: Settings) -> Settings:
    """Keep Settings and Flask's own key for the database in step when a test overrides one."""
    from dataclasses import replace

    return replace(settings, database_url=app.config["SQLALCHEMY_DATABASE_URI"])


def close_app(app: Flask) -> None:
    """Stop what the app runs in the background and release its database connections."""
    app.extensions["warroom.timers"].shutdown()
    with app.app_context():
        app.extensions["warroom.bus"].detach(db.engine)
        db.session.remove()
        close_fix_writer(db.engine)
        db.engine.dispose()


def settle_heap() -> None:
    """Called once a serving process has built what it keeps for its whole life (the modules, the
    app, the road graph, map layers and address index: ~210,000 objects for Porto Alegre): those
    leave the garbage collector's view (`gc.freeze`). A full collection over them took 100-140 ms,
    a pause in whichever request set it off (a recommendation, a crew's GPS fix); collections now
    see only what requests allocate."""
    gc.collect()
    gc.freeze()
