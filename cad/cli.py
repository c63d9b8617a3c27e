"""The `warroom` command (also `flask --app wsgi …`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import inspect, select
from werkzeug.security import generate_password_hash

from cad import clock
from cad.app import create_app
from cad.auth import hash_token, new_token
from cad.db import db
from cad.models import Agency, Role, Unit, User


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=False)
def main() -> None:
    """War Room 112: computer-aided dispatch for a 112 centre."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--demo/--no-demo", default=True, show_default=True, help="seed the demo centre when the database is empty"
)
@click.option(
    "--sip/--no-sip",
    default=True,
    show_default=True,
    help="start the SIP intake beside it: agents behind Kamailio when installed (`warroom sip --workers`), else one",
)
@click.option(
    "--sim/--no-sim", default=True, show_default=True, help="with the demo: a living city (`warroom simulate`, calm)"
)
@with_appcontext
def serve(host: str, port: int, demo: bool, sip: bool, sim: bool) -> None:
    """Run the centre: bring the schema up to date, seed the demo if empty, serve HTTP."""
    from werkzeug.serving import run_simple

    upgrade()
    if demo and db.session.scalar(select(Agency.id).limit(1)) is None:
        _print_seed()
    settings = current_app.config["WARROOM"]
    click.echo(f"War Room 112 on http://{host}:{port}/  database: {db.engine.url.render_as_string()}")
    click.echo(f"road extract: {settings.roads_path or '(none configured)'}")
    started = time.perf_counter()  # loaded now, not by the first dispatcher (gunicorn: post_worker_init)
    if current_app.extensions["warroom.roads"].preload():
        current_app.extensions["warroom.map_layers"].preload()
        click.echo(f"road graph, map layers and address index loaded in {time.perf_counter() - started:.1f} s")
    click.echo(f"API description: http://{host}:{port}/api/v1/openapi.json")
    helpers = [_start_sip(host, port)] if sip else []
    if sim and demo:
        helpers.append(_start_simulator(host, port, sip))
    try:
        run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)
    finally:
        for helper in helpers:
            helper.terminate()
        for helper in helpers:
            helper.wait(30)


def _start_simulator(host: str, port: int, sip: bool) -> subprocess.Popen[bytes]:
    """The demo city (calls, vehicles, cameras, crews) as its own process, at a calm rate."""
    settings = current_app.config["WARROOM"]
    centre = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    click.echo(f"simulator: a calm city driving {centre} (--no-sim leaves it out; `warroom simulate --help`)")
    command = [sys.executable, "-m", "cad.cli", "simulate", "--yes", "--url", centre, "--rate", "0.5"]
    if not sip:
        command += ["--sip", ""]
    env = {**os.environ, "DATABASE_URL": settings.database_url, "WARROOM_INSTANCE": str(settings.instance_path)}
    return subprocess.Popen(command, env=env)


#: Agents `warroom serve` runs behind Kamailio when WARROOM_SIP_WORKERS is unset. Each pjsua2 agent
#: holds three calls (its fourth line is kept back); 20 calls/s of 0.8 s calls, each ringing 0.5 s
#: first, keeps ~26 callers on the line at once: nine agents hold 27, and the queue takes the rest.
SERVE_SIP_WORKERS = 9


def _start_sip(host: str, port: int) -> subprocess.Popen[bytes]:
    """The SIP intake as its own processes (pjsua2 must never take the web centre down with it):
    a pool of agents behind Kamailio when it is installed, else one agent."""
    from telephony.supervisor import kamailio_binary

    settings = current_app.config["WARROOM"]
    centre = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    env = {
        **os.environ,
        "WARROOM_CENTRE_URL": centre,
        "WARROOM_INTAKE_TOKEN": settings.shared_intake_token(),
        "DATABASE_URL": settings.database_url,
        "WARROOM_INSTANCE": str(settings.instance_path),
    }
    allowed = ", ".join(settings.sip_allow)
    command = [sys.executable, "-m", "cad.cli", "sip"]
    if settings.sip_role != "all":  # one node of two (WARROOM_SIP_ROLE): `warroom sip` says what it runs
        workers = settings.sip_workers or SERVE_SIP_WORKERS
        command += ["--workers", str(workers)]
        click.echo(f"SIP: this node's part of the intake (WARROOM_SIP_ROLE={settings.sip_role}; see its pool's line)")
    elif kamailio_binary() is not None:
        workers = settings.sip_workers or SERVE_SIP_WORKERS
        command += ["--workers", str(workers)]
        click.echo(
            f"SIP: 112 on udp/tcp {settings.sip_port} through Kamailio, {workers} pjsua2 agents behind it "
            f"(WARROOM_SIP_WORKERS; allowed from {allowed})"
        )
    else:
        click.echo(
            f"SIP: ONE pjsua2 agent on udp/tcp {settings.sip_port}, no proxy (kamailio is not installed): "
            f"3 calls at once, past that a caller gets 503 and is on record as overflowed; INVITEs over "
            f"~4,000 bytes are lost; install kamailio for a pool (allowed from {allowed})"
        )
    return subprocess.Popen(command, env=env)


@main.group(invoke_without_command=True)
@click.option("--port", type=int, default=None, help="SIP port (UDP and TCP); default WARROOM_SIP_PORT")
@click.option("--bind", default="0.0.0.0", show_default=True)
@click.option("--rtp-port", type=int, default=None, help="first RTP port; default 4000 + 10 × SIP port offset")
@click.option("--pjsip-log-level", type=int, default=1, show_default=True)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="run a supervised pool of N agents on the ports above --port, behind Kamailio when installed; "
    "default WARROOM_SIP_WORKERS (0: one agent on --port)",
)
@click.option("--proxy/--no-proxy", default=True, show_default=True, help="with --workers: Kamailio in front")
@click.option(
    "--agents-only",
    "role",
    flag_value="agents",
    default=None,
    help="with --workers: this node runs agents only, on --agent-bind, for another node's Kamailio "
    "(WARROOM_SIP_ROLE=agents)",
)
@click.option(
    "--proxy-only",
    "role",
    flag_value="proxy",
    help="Kamailio only, in front of --remote-agents (WARROOM_SIP_ROLE=proxy)",
)
@click.option(
    "--agent-bind",
    default=None,
    help="with --agents-only: the address the agents listen on, which the proxy node reaches "
    "(default WARROOM_SIP_AGENT_BIND, 127.0.0.1)",
)
@click.option(
    "--remote-agents",
    default=None,
    help="other nodes' agents for this node's Kamailio as well as its own: host:first-last,… "
    "(default WARROOM_SIP_REMOTE_AGENTS)",
)
@click.pass_context
@with_appcontext
def sip(
    ctx: click.Context,
    port: int | None,
    bind: str,
    rtp_port: int | None,
    pjsip_log_level: int,
    workers: int | None,
    proxy: bool,
    role: str | None,
    agent_bind: str | None,
    remote_agents: str | None,
) -> None:
    """Run the 112 SIP agent (pjsua2): answers INVITE and MESSAGE to 112, journals, reports to the centre.
    `warroom sip redeliver` sends again what the centre refused."""
    if ctx.invoked_subcommand is not None:
        return
    from telephony.sip_agent import serve as serve_sip
    from telephony.worker import agent_config

    settings = current_app.config["WARROOM"]
    port = port or settings.sip_port
    workers = settings.sip_workers if workers is None else workers
    role = role or settings.sip_role
    if role == "proxy":
        workers = 0
    if workers == 0 and role == "all" and (remote_agents or settings.sip_remote_agents):
        raise click.ClickException("other nodes' agents are dispatched to by a pool: give --workers N, or --proxy-only")
    if workers > 0 or role == "proxy":
        from telephony.supervisor import BadPool, pool_config, serve_pool

        try:
            config = pool_config(
                settings,
                port,
                workers,
                bind=bind,
                proxy=proxy,
                log_level=pjsip_log_level,
                role=role,
                agent_bind=agent_bind,
                remote_agents=remote_agents,
            )
            serve_pool(config)
        except BadPool as error:
            raise click.ClickException(str(error)) from None
        return
    if role != "all":
        raise click.ClickException("--agents-only runs a pool: give --workers N (or WARROOM_SIP_WORKERS)")
    config = agent_config(settings, port, bind=bind, rtp_port=rtp_port, log_level=pjsip_log_level)
    click.echo(f"SIP agent on {bind}:{port}, reporting to {settings.centre_url}")
    serve_sip(config)


@sip.command("redeliver")
@click.option(
    "--journal",
    "journals",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="an agent's journal folder; default every one under the instance's sip-journal/",
)
@with_appcontext
def sip_redeliver(journals: tuple[str, ...]) -> None:
    """Send the calls and texts the centre refused once more (the consoles' "could not be recorded" alerts)."""
    from pathlib import Path

    from telephony.redeliver import journal_folders, redeliver

    settings = current_app.config["WARROOM"]
    folders = [Path(j) for j in journals] or journal_folders(settings.instance_path)
    url = f"{settings.centre_url.rstrip('/')}/telephony/sip/events"
    outcomes = redeliver(folders, url, settings.shared_intake_token())
    for o in outcomes:
        mark = "delivered" if o.delivered else "STILL REFUSED"
        click.echo(f"{mark}: {o.kind} {o.entry_id} from {o.phone or 'unknown'} ({o.journal.name}): {o.answer}")
    refused = sum(not o.delivered for o in outcomes)
    delivered = len(outcomes) - refused
    click.echo(f"{len(outcomes)} refused entries sent again: {delivered} delivered, {refused} still refused")
    if refused:
        raise SystemExit(1)


@main.command()
@with_appcontext
def scheduler() -> None:
    """Run the acknowledgement timers (APScheduler, jobs in the database); one of several runs them."""
    import signal
    import threading

    from cad.scheduler import run

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("scheduler started: waiting for the lease")
    run(current_app._get_current_object(), stop, ttl_s=current_app.config["WARROOM"].scheduler_lease_s)


@main.command()
@click.option("--from", "start", required=True, help="start: ISO 8601 time with offset, or a local day YYYY-MM-DD")
@click.option("--to", "end", required=True, help="end (exclusive), as --from")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv", "json"]), default="pdf", show_default=True)
@click.option("--table", type=click.Choice(["aggregates", "findings", "measurements"]), default="aggregates")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), default=None, help="default: stdout")
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True, help="PDF/CSV headings")
@with_appcontext
def report(start: str, end: str, fmt: str, table: str, output: str | None, lang: str) -> None:
    """Write the response-time report (the API's /reports/response-times) to a file or stdout."""
    from cad.api.reports import report_config, report_window
    from cad.errors import ApiError
    from reports.generate import response_times
    from reports.render import report_csv, report_json_bytes, report_pdf
    from reports.report import report_dict

    settings = current_app.config["WARROOM"]
    try:
        window = report_window(start, end, settings.timezone)
        config = report_config(settings)
    except ApiError as error:
        raise click.ClickException(str(error)) from None
    detail = fmt == "csv" and table == "measurements"
    with db.engine.connect() as conn:
        made = response_times(conn, *window, config, now=clock.now(), detail=detail)
    if fmt == "pdf":
        content = report_pdf(made, lang)
    elif fmt == "csv":
        content = report_csv(made, table, lang).encode()
    else:
        content = report_json_bytes(report_dict(made))
    if output:
        with open(output, "wb") as out:
            out.write(content)
        click.echo(f"{made.incidents:,} incidents, {len(made.findings):,} findings → {output}", err=True)
    else:
        click.echo(content, nl=False)  # bytes go to the binary stdout


@main.group()
def demo() -> None:
    """The demo centre."""


@demo.command("seed")
@with_appcontext
def demo_seed() -> None:
    """Load agencies, stations, ~40 units, ~30 cameras and one user per role."""
    if not inspect(db.engine).has_table("agencies"):
        raise click.ClickException("no schema yet: run 'warroom db upgrade' first")
    _print_seed()


def _print_seed() -> None:
    from cad.demo import seed_demo

    settings = current_app.config["WARROOM"]
    if not settings.roads_path:
        raise click.ClickException("no road extract: set WARROOM_ROADS to an OSM extract (PBF or Overpass JSON)")
    try:
        report = seed_demo(db.session, settings.roads_path)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"demo centre on {settings.roads_path}: {report.agencies} agencies, {report.stations} stations, "
        f"{report.units} units, {report.cameras} cameras"
    )
    click.echo("API tokens (shown once; 'warroom users token NAME' makes a new one):")
    for username, token in report.tokens.items():
        click.echo(f"  {username:<11} {token}")
    logins = ", ".join(f"{username} / {password}" for username, password in report.passwords.items())
    click.echo(f"Console logins (demo passwords; open / in a browser): {logins}")


@main.group()
def roads() -> None:
    """The road network routing runs on."""


@roads.command("import")
@click.argument("extract", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def roads_import(extract: str) -> None:
    """Build the routing cache of an OSM extract (PBF or Overpass JSON); workers then load it fast."""
    import time

    import routing

    settings = current_app.config["WARROOM"]
    started = time.perf_counter()
    try:
        cache = routing.import_roads(extract, cache_dir=settings.instance_path / "roads")
    except routing.BadRoadData as error:
        raise click.ClickException(str(error)) from None
    graph = routing.load_graph(cache)
    click.echo(
        f"{extract}: {graph.node_count:,} intersections, {graph.edge_count:,} directed road edges "
        f"in {time.perf_counter() - started:.1f} s → {cache}"
    )
    if str(extract) != settings.roads_path:
        click.echo(f"route on it with: export WARROOM_ROADS={extract}")


@main.group()
def users() -> None:
    """People who use the centre."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", default=None, help="for the web consoles; hashed")
@click.option("--display-name", default=None)
@click.option("--unit", "callsign", default=None, help="crew: the unit they ride")
@with_appcontext
def users_create(name: str, role: str, password: str | None, display_name: str | None, callsign: str | None) -> None:
    """Create a user and print their API token."""
    if db.session.scalar(select(User).where(User.username == name)) is not None:
        raise click.ClickException(f"user {name!r} exists; 'warroom users token {name}' gives a new token")
    unit_id = None
    if callsign:
        unit = db.session.scalar(select(Unit).where(Unit.callsign == callsign))
        if unit is None:
            raise click.ClickException(f"no unit {callsign!r}")
        unit_id = unit.id
    token = new_token("wr")
    db.session.add(
        User(
            username=name,
            display_name=display_name or name,
            role=Role(role),
            password_hash=generate_password_hash(password) if password else None,
            api_token_hash=hash_token(token),
            unit_id=unit_id,
            created_at=clock.now(),
        )
    )
    db.session.commit()
    click.echo(token)


@users.command("token")
@click.argument("name")
@with_appcontext
def users_token(name: str) -> None:
    """Give a user a new API token (the old one stops working) and print it."""
    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        raise click.ClickException(f"no user {name!r}")
    token = new_token("wr")
    user.api_token_hash = hash_token(token)
    db.session.commit()
    click.echo(token)


@main.group()
def units() -> None:
    """Vehicles."""


@units.command("token")
@click.argument("callsign")
@with_appcontext
def units_token(callsign: str) -> None:
    """Give a unit's GPS device a new token and print it."""
    unit = db.session.scalar(select(Unit).where(Unit.callsign == callsign))
    if unit is None:
        raise click.ClickException(f"no unit {callsign!r}")
    token = new_token("dev")
    unit.device_token_hash = hash_token(token)
    db.session.commit()
    click.echo(token)


@main.command()
@click.option("--url", default=None, help="the centre; default WARROOM_CENTRE_URL")
@click.option("--rate", default=1.0, show_default=True, help="112 calls a minute at the day's mean")
@click.option("--duration", default=None, type=float, help="seconds to run; default until stopped")
@click.option("--grace", default=20.0, show_default=True, help="seconds a call or incident waits for a person")
@click.option(
    "--sip", "sip_target", default=None, help="host:port of the SIP intake; default 127.0.0.1:WARROOM_SIP_PORT"
)
@click.option("--seed", default=112, show_default=True, help="random seed: the same city twice")
@click.option("--yes", is_flag=True, help="this is a demo or test centre: take over its units' GPS tokens")
@with_appcontext
def simulate(
    url: str | None, rate: float, duration: float | None, grace: float, sip_target: str | None, seed: int, yes: bool
) -> None:
    """Drive the running centre with a living city: 112 calls over SIP, SMS, GPS, cameras, crews."""
    import logging

    from cad.services.simulation import issue_simulator_keys
    from simulator.centre import Access, Centre
    from simulator.run import Options
    from simulator.run import simulate as run_city

    if not yes:
        raise click.ClickException(
            "the simulator gives every unit a new GPS token and drives it: for demo and test centres only (--yes)"
        )
    settings = current_app.config["WARROOM"]
    keys = issue_simulator_keys(db.session)
    access = Access(
        url=url or settings.centre_url,
        api_token=keys.api_token,
        devices=keys.devices,
        crews=keys.crews,
        twilio_auth_token=settings.twilio_auth_token or None,
        twilio_url=settings.public_url or None,
        sip_target=f"127.0.0.1:{settings.sip_port}" if sip_target is None else sip_target or None,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stats = run_city(Centre(access), Options(rate_per_min=rate, duration_s=duration, grace_s=grace, seed=seed))
    click.echo(stats.summary())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
