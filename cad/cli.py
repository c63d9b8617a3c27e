"""The `warroom` command (also `flask --app wsgi …`).

Imports here stay light: `warroom --help` and each command's `--help` must not pay for the
application (SQLAlchemy, Alembic, the road graph's numpy/scipy); a command loads what it uses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from cad import clock

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

    from cad.demo import SeedReport


def _create_app() -> Flask:
    from cad.app import create_app

    return create_app()


class WarroomGroup(FlaskGroup):
    """FlaskGroup without loading the app to list the commands (Flask's own would build the whole
    application for `--help`), and with Flask-Migrate's `db` group imported only when it is used."""

    LAZY = {"db": ("flask_migrate.cli", "db", "Perform database migrations (Flask-Migrate, Alembic).")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*click.Group.list_commands(self, ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY and name not in self.commands:
            import importlib

            module, attribute, _ = self.LAZY[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in self.LAZY and name not in self.commands:
                rows.append((name, self.LAZY[name][2]))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class RoleChoice(click.Choice):
    """The roles, imported only when a role is given or a command's help shown."""

    def __init__(self) -> None:
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        from cad.domain.roles import Role

        return [r.value for r in Role]

    @choices.setter
    def choices(self, _value: Sequence[str]) -> None:
        pass


class _Database:
    """`db` of cad.db, imported at first use (Flask-SQLAlchemy and SQLAlchemy are 0.4 s of imports)."""

    def __getattr__(self, name: str) -> Any:
        from cad.db import db as database

        return getattr(database, name)


db: Any = _Database()


#: Set by `warroom serve` for the children it leads: a SIGTERM to one of them (its parent died, or it is
#: stopped on its own) goes to its whole process group, the simulator's sipp callers too.
TAKE_GROUP_ALONG = "WARROOM_TAKE_GROUP_ALONG"


@click.group(cls=WarroomGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """War Room 112: computer-aided dispatch for a 112 centre."""
    from cad.logs import configure_logging

    configure_logging()  # `warroom serve` then sends the INFO lines to files (cad.serve_output)
    if os.environ.get(TAKE_GROUP_ALONG) == "1" and os.getpgrp() == os.getpid():
        signal.signal(signal.SIGTERM, _take_group_along)


def _demo_seeded() -> bool:
    from cad.services.simulation import demo_seeded_at

    return demo_seeded_at(db.session) is not None


def _take_group_along(signum: int, _frame: Any) -> None:
    signal.signal(signum, signal.SIG_IGN)
    os.killpg(0, signum)  # everyone in this process group; this process ignores it
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # and ends as the signal would have ended it


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
@click.option("--access-log", is_flag=True, help="one line per HTTP request on stdout, not in instance/logs/access.log")
@click.option(
    "--verbose", is_flag=True, help="the centre's, SIP intake's and simulator's INFO lines here, not in files"
)
@with_appcontext
def serve(host: str, port: int, demo: bool, sip: bool, sim: bool, access_log: bool, verbose: bool) -> None:
    """Run the centre: bring the schema up to date, seed the demo if empty, serve HTTP.
    SIGTERM or Ctrl-C stops it with its SIP intake and simulator."""
    import logging
    import threading
    import time

    from flask_migrate import upgrade
    from sqlalchemy import select
    from werkzeug.serving import make_server

    from cad.app import settle_heap
    from cad.models import Agency
    from cad.serve_output import LogEcho, quiet_logging

    settings = current_app.config["WARROOM"]
    logs = settings.instance_path / "logs"
    if verbose:
        upgrade()
    else:
        logging.disable(logging.INFO)  # Alembic's lines of each start (its own logging config, set in upgrade)
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
    quiet_logging(logs, access_log=access_log, verbose=verbose)
    seeded = _seed_demo() if demo and db.session.scalar(select(Agency.id).limit(1)) is None else None
    db.session.remove()
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"
    click.echo(f"War Room 112 on http://{host}:{port}/  database: {db.engine.url.render_as_string()}")
    click.echo(f"road extract: {settings.roads_path or '(none configured)'}")
    if seeded is not None:
        click.echo(_seed_line(seeded, settings.roads_path))
    started = time.perf_counter()  # loaded now, not by the first dispatcher (gunicorn: post_worker_init)
    if current_app.extensions["warroom.roads"].preload():
        click.echo(f"road graph, map layers and address index loaded in {time.perf_counter() - started:.1f} s")
    settle_heap()
    server = make_server(host, port, current_app._get_current_object(), threaded=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    helpers: list[subprocess.Popen[bytes]] = []
    echo = LogEcho([logs / "sip.log", logs / "simulator.log"]) if not verbose else None  # from their ends now
    http = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    http.start()
    try:
        if sip:
            helpers.append(_start_sip(host, port, None if verbose else logs / "sip.log"))
        simulating = sim and demo and _demo_seeded()
        if simulating:
            helpers.append(_start_simulator(host, port, sip, None if verbose else logs / "simulator.log"))
        elif sim and demo:  # a real centre never gets fake calls
            click.echo("simulator: not started: the demo did not seed this database (`warroom simulate --help`)")
        if echo is not None:
            echo.start()
            names = ["access.log", "centre.log"] + ["sip.log"] * sip + ["simulator.log"] * simulating
            click.echo(f"logs: {', '.join(names)} in {logs} (warnings and errors show here too; --verbose: all)")
        elif not access_log:
            click.echo(f"logs: here (--verbose), but the access log in {logs / 'access.log'}")
        click.echo(_logins_block(url, settings.instance_path / DEMO_LOGINS, seeded, demo))
        while not stop.wait(1.0) and http.is_alive():
            pass
        click.echo("stopping" + (" the SIP intake and the simulator, then HTTP" if helpers else ""), err=True)
    finally:
        _stop_helpers(helpers)  # the centre still answers their last reports meanwhile
        server.shutdown()
        server.server_close()
        if echo is not None:
            echo.stop()


def _stop_helpers(helpers: list[subprocess.Popen[bytes]], grace_s: float = 20.0) -> None:
    """SIGTERM to each helper's whole process group (the supervisor with its agents and Kamailio, the
    simulator with its sipp callers); SIGKILL to whatever is left after `grace_s`."""
    from telephony.lifeline import stop_groups

    killed = stop_groups([h.pid for h in helpers], grace_s)
    for helper in helpers:
        helper.wait(5)
    if killed:
        click.echo(f"process groups {killed} did not stop within {grace_s:.0f} s: killed", err=True)


def _start_child(command: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    """A helper process that dies with `warroom serve` (a parent-death signal) and leads a process group
    of its own (so its children are stopped with it, and a Ctrl-C in the terminal reaches `serve` only)."""
    from telephony.lifeline import die_with_parent

    if log is None:
        return subprocess.Popen(command, env=env, process_group=0, preexec_fn=die_with_parent())
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, process_group=0, preexec_fn=die_with_parent()
        )


def _start_simulator(host: str, port: int, sip: bool, log: Path | None = None) -> subprocess.Popen[bytes]:
    """The demo city (calls, vehicles, cameras, crews) as its own process, at a calm rate."""
    settings = current_app.config["WARROOM"]
    centre = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    click.echo(f"simulator: a calm city driving {centre} (--no-sim leaves it out; `warroom simulate --help`)")
    command = [sys.executable, "-m", "cad.cli", "simulate", "--yes", "--url", centre, "--rate", "0.5"]
    if not sip:
        command += ["--sip", ""]
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "WARROOM_INSTANCE": str(settings.instance_path),
        TAKE_GROUP_ALONG: "1",
    }
    return _start_child(command, env, log)


#: Where `warroom serve` and `warroom demo seed` write the demo's logins and API tokens (mode 600).
DEMO_LOGINS = "demo-logins.txt"


def _seed_demo() -> SeedReport:
    """Seed the demo centre and write its logins and tokens to the instance folder (readable by the
    owner only, created so: never a moment readable by others)."""
    from cad.demo import seed_demo

    settings = current_app.config["WARROOM"]
    if not settings.roads_path:
        raise click.ClickException("no road extract: set WARROOM_ROADS to an OSM extract (PBF or Overpass JSON)")
    try:
        report = seed_demo(db.session, settings.roads_path)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    _write_private(settings.instance_path / DEMO_LOGINS, _logins_file(report, settings.roads_path))
    return report


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(draft, path)


def _logins_file(report: SeedReport, roads: str) -> str:
    lines = [
        f"# War Room 112 demo centre, seeded {clock.now():%Y-%m-%d %H:%M} UTC on {roads}",
        "# Console logins (demo passwords: open the centre's / in a browser)",
        *(f"login {username:<11} {password}" for username, password in report.passwords.items()),
        "# API tokens (Authorization: Bearer TOKEN); `warroom users token NAME` makes a new one",
        *(f"token {username:<11} {token}" for username, token in report.tokens.items()),
    ]
    return "\n".join(lines) + "\n"


def _seed_line(report: SeedReport, roads: str) -> str:
    return (
        f"demo centre on {roads}: {report.agencies} agencies, {report.stations} stations, "
        f"{report.units} units, {report.cameras} cameras"
    )


def _logins_block(url: str, logins: Path, seeded: SeedReport | None, demo: bool) -> str:
    """The last lines of `warroom serve`'s start-up: where to go and how to get in."""
    rule = "─" * 72
    lines = [rule, f"War Room 112 is ready: {url}   (API: {url}api/v1/openapi.json)"]
    if seeded is not None:
        consoles = ", ".join(f"{username} / {password}" for username, password in seeded.passwords.items())
        lines += [
            f"Console logins (demo passwords): {consoles}",
            "API tokens (shown once; `warroom users token NAME` makes a new one):",
            *(f"  {username:<11} {token}" for username, token in seeded.tokens.items()),
            f"Both are in {logins} (readable by you only).",
        ]
    elif logins.exists():
        lines.append(f"Demo logins and API tokens: {logins} (written when the demo was seeded; tokens are shown once)")
    elif demo:
        lines.append("API tokens: `warroom users token NAME` gives a user a new one")
    lines += ["Ctrl-C (or SIGTERM) stops the centre with its SIP intake and simulator.", rule]
    return "\n".join(line for line in lines if line)


#: Agents `warroom serve` runs behind Kamailio when WARROOM_SIP_WORKERS is unset. Each pjsua2 agent
#: holds three calls (its fourth line is kept back); 20 calls/s of 0.8 s calls, each ringing 0.5 s
#: first, keeps ~26 callers on the line at once: nine agents hold 27, and the queue takes the rest.
SERVE_SIP_WORKERS = 9


def _start_sip(host: str, port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
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
    return _start_child(command, env, log)


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
    from cad.domain.errors import DomainError
    from cad.services.reports import report_window, response_time_report
    from reports.render import report_csv, report_json_bytes, report_pdf
    from reports.report import report_dict

    settings = current_app.config["WARROOM"]
    detail = fmt == "csv" and table == "measurements"
    try:
        window = report_window(start, end, settings.timezone)
        made = response_time_report(db.engine, window, settings, clock.now(), detail=detail)
    except DomainError as error:
        raise click.ClickException(str(error)) from None
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
    from sqlalchemy import inspect

    if not inspect(db.engine).has_table("agencies"):
        raise click.ClickException("no schema yet: run 'warroom db upgrade' first")
    _print_seed()


def _print_seed() -> None:
    settings = current_app.config["WARROOM"]
    report = _seed_demo()
    click.echo(_seed_line(report, settings.roads_path))
    click.echo("API tokens (shown once; 'warroom users token NAME' makes a new one):")
    for username, token in report.tokens.items():
        click.echo(f"  {username:<11} {token}")
    logins = ", ".join(f"{username} / {password}" for username, password in report.passwords.items())
    click.echo(f"Console logins (demo passwords; open / in a browser): {logins}")
    click.echo(f"Both written to {settings.instance_path / DEMO_LOGINS} (readable by you only)")


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
@click.option("--role", required=True, type=RoleChoice())
@click.option("--password", default=None, help="for the web consoles; hashed")
@click.option("--display-name", default=None)
@click.option("--unit", "callsign", default=None, help="crew: the unit they ride")
@with_appcontext
def users_create(name: str, role: str, password: str | None, display_name: str | None, callsign: str | None) -> None:
    """Create a user and print their API token."""
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from cad.models import Role, Unit, User
    from cad.services.tokens import give_api_token

    if db.session.scalar(select(User).where(User.username == name)) is not None:
        raise click.ClickException(f"user {name!r} exists; 'warroom users token {name}' gives a new token")
    unit_id = None
    if callsign:
        unit = db.session.scalar(select(Unit).where(Unit.callsign == callsign))
        if unit is None:
            raise click.ClickException(f"no unit {callsign!r}")
        unit_id = unit.id
    user = User(
        username=name,
        display_name=display_name or name,
        role=Role(role),
        password_hash=generate_password_hash(password) if password else None,
        unit_id=unit_id,
        created_at=clock.now(),
    )
    token = give_api_token(user)
    db.session.add(user)
    db.session.commit()
    click.echo(token)


@users.command("token")
@click.argument("name")
@with_appcontext
def users_token(name: str) -> None:
    """Give a user a new API token (the old one stops working) and print it."""
    from cad.services.tokens import rotate_api_token

    _print_new_token(rotate_api_token, name)


def _print_new_token(rotate: Callable[[Session, str], str], holder: str) -> None:
    """Print the secret `rotate` gives `holder`, or say there is no such user or unit."""
    from cad.services.tokens import UnknownHolder

    try:
        click.echo(rotate(db.session, holder))
    except UnknownHolder as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def units() -> None:
    """Vehicles."""


@units.command("token")
@click.argument("callsign")
@with_appcontext
def units_token(callsign: str) -> None:
    """Give a unit's GPS device a new token and print it."""
    from cad.services.tokens import rotate_device_token

    _print_new_token(rotate_device_token, callsign)


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
    """Drive the running centre with a living city: 112 calls over SIP, SMS, GPS, cameras, crews.
    Only on a centre the demo seeded, and one simulator at a time (a lease in the database)."""
    import logging
    import signal
    import threading

    from sqlalchemy.exc import SQLAlchemyError

    from cad.services import simulation
    from simulator.centre import Access, Centre
    from simulator.run import Options
    from simulator.run import simulate as run_city

    if not yes:
        raise click.ClickException(
            "the simulator gives every unit a new GPS token and drives it: for demo and test centres only (--yes)"
        )
    settings = current_app.config["WARROOM"]
    holder = simulation.new_holder()
    try:
        simulation.take_simulator_lease(db.session, holder)
        keys = simulation.issue_simulator_keys(db.session, holder)
    except (simulation.NotADemoCentre, simulation.SimulatorBusy, ValueError) as error:
        db.session.rollback()
        simulation.release_simulator_lease(db.session, holder)
        raise click.ClickException(str(error)) from None

    def heartbeat() -> bool:
        try:
            return simulation.renew_simulator_lease(db.session, holder)
        except SQLAlchemyError as error:  # the database away a moment: the lease outlasts a few misses
            db.session.rollback()
            logging.getLogger(__name__).warning("simulator: lease not renewed: %s", getattr(error, "orig", error))
            return True

    access = Access(
        url=url or settings.centre_url,
        api_token=keys.api_token,
        devices=keys.devices,
        crews=keys.crews,
        twilio_auth_token=settings.twilio_auth_token or None,
        twilio_url=settings.public_url or None,
        sip_target=f"127.0.0.1:{settings.sip_port}" if sip_target is None else sip_target or None,
    )
    stop = threading.Event()
    main_thread = threading.current_thread() is threading.main_thread()  # signals are the main thread's
    parent = os.getppid()

    def on_sigterm(signum: int, frame: Any) -> None:
        stop.set()  # stops cleanly and gives the lease back
        if os.environ.get(TAKE_GROUP_ALONG) == "1" and os.getppid() != parent:
            # `warroom serve` died (its parent-death signal): the centre it drove is gone, so a clean stop
            # would only wait on it; its sipp callers go with it, and the lease runs out by itself
            _take_group_along(signum, frame)

    before = signal.signal(signal.SIGTERM, on_sigterm) if main_thread else None
    options = Options(rate_per_min=rate, duration_s=duration, grace_s=grace, seed=seed, heartbeat=heartbeat)
    try:
        stats = run_city(Centre(access), options, stop=stop)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)
        db.session.rollback()
        simulation.release_simulator_lease(db.session, holder)
    click.echo(stats.summary())


@main.command(with_appcontext=False)  # it must answer where the centre's app cannot even be built
def doctor() -> None:
    """Check this deployment (database, schema, SECRET_KEY, roads, Kamailio and sipp, Twilio, public URL,
    disk) and say what to do, one line a check; exit 1 when any check FAILs."""
    from cad.config import Settings
    from cad.deployment import look_at
    from cad.doctor import diagnose, failed

    findings = diagnose(look_at(Settings.from_env(), os.environ))
    for finding in findings:
        click.echo(finding.line())
    if failed(findings):
        raise SystemExit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
