"""End-to-end fixtures: the centre served over real HTTP, the SIP agent as its own process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import INTAKE_TOKEN, AgentProcess, LiveCentre, free_udp_port, require_tool, start_agent
from werkzeug.serving import make_server

from cad.app import create_app
from cad.config import Settings
from cad.db import db


@pytest.fixture
def live_centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": "",
            "WARROOM_INTAKE_TOKEN": INTAKE_TOKEN,
        }
    )
    app = create_app({"TESTING": True}, settings=settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with app.app_context():
        yield LiveCentre(app, f"http://127.0.0.1:{server.server_port}", tmp_path)
        db.session.remove()
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def sip_agent(live_centre: LiveCentre) -> Iterator[AgentProcess]:
    require_tool("sipp")
    agent = start_agent(live_centre.url, live_centre.instance, free_udp_port())
    yield agent
    code = agent.stop()
    assert code == 0, agent.output()[-3000:]
    assert "SIP agent stopped" in agent.output()
