"""`warroom doctor`: what is wrong with a deployment, in plain words (pure).

`cad.deployment.look_at` gathers the facts (the database, the files, the tools, the settings);
`diagnose` judges them: one finding per check, OK / WARN / FAIL and what to do. Imports nothing
heavy, so the doctor answers even where the centre itself would not start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

#: `Settings.secret_key`'s default: a development value anyone can read in the repository.
DEV_SECRET_KEY = "dev-only-change-me"
#: Free space under which the instance folder (SIP journals, road cache, reports) is a warning, a failure.
DISK_WARN_BYTES = 1 << 30
DISK_FAIL_BYTES = 100 << 20
#: What losing each tool costs, said where it is missing.
TOOL_COSTS = {
    "kamailio": "without it `warroom serve` runs ONE pjsua2 agent: 3 calls at once, the next caller gets 503 "
    "(install Debian's kamailio for a pool of agents behind it)",
    "sipp": "without it the simulator logs its demo calls through the calls API instead of calling over SIP "
    "(install Debian's sip-tester)",
}
TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}")
TWILIO_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
#: an E.164 number, a messaging service, or an alphanumeric sender ID
TWILIO_SENDER = re.compile(r"\+[1-9][0-9]{6,14}|MG[0-9a-fA-F]{32}|[A-Za-z0-9 ]{1,11}")


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    message: str

    def line(self) -> str:
        return f"{self.level.value:<4} {self.check}: {self.message}"


@dataclass(frozen=True)
class Facts:
    """A deployment as seen from here: plain values only."""

    database_url: str  # shown without its password
    database_error: str = ""  # why it could not be reached; "" when it answered
    revisions: tuple[str, ...] = ()  # where the database's schema is (alembic)
    heads: tuple[str, ...] = ()  # where this code's migrations end
    known: tuple[str, ...] = ()  # every revision this code's migrations hold
    demo: bool | None = None  # the demo seeded it (`centre_marks`); None when unknown
    secret_key: str = DEV_SECRET_KEY
    roads_path: str = ""
    roads_error: str = ""  # why the extract could not be opened
    roads_format: str = ""  # "pbf", "osm-xml", "overpass-json", …; "" when not recognised
    roads_cached: bool = False  # `warroom roads import` left a cache in the instance folder
    tools: Mapping[str, str | None] = field(default_factory=dict)  # name → path, None when missing
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    public_url: str = ""
    secure_cookies: bool = False  # WARROOM_SECURE_COOKIES itself (an https public URL implies it anyway)
    intake_token_set: bool = False
    instance_path: str = ""
    instance_writable: bool = True
    free_bytes: Mapping[str, int | None] = field(default_factory=dict)  # folder → free bytes; None: not there


def diagnose(facts: Facts) -> list[Finding]:
    demo = facts.demo is True
    return [
        *_database(facts),
        _secret_key(facts.secret_key, demo),
        _roads(facts),
        *(_tool(name, path) for name, path in sorted(facts.tools.items())),
        _twilio(facts),
        _public_url(facts.public_url, facts.secure_cookies, bool(facts.twilio_auth_token), demo),
        _intake_token(facts.intake_token_set, demo),
        *_disk(facts),
    ]


def failed(findings: list[Finding]) -> bool:
    return any(f.level is Level.FAIL for f in findings)


def _database(facts: Facts) -> list[Finding]:
    if facts.database_error:
        return [
            Finding(
                "database",
                Level.FAIL,
                f"{facts.database_url} does not answer ({facts.database_error}): check DATABASE_URL and that the "
                "server runs",
            )
        ]
    found = [Finding("database", Level.OK, f"{facts.database_url} answers")]
    behind = set(facts.heads) - set(facts.revisions)
    unknown = set(facts.revisions) - set(facts.known) - set(facts.heads)
    if not facts.revisions:
        found.append(Finding("schema", Level.FAIL, "no schema yet: run `warroom db upgrade` (`warroom serve` does)"))
    elif unknown:
        found.append(
            Finding(
                "schema",
                Level.FAIL,
                f"the database is at revision {', '.join(sorted(unknown))}, which this code does not know: a newer "
                "release migrated it; run that release (or `warroom db upgrade` if this one is newer)",
            )
        )
    elif behind:
        found.append(
            Finding(
                "schema",
                Level.FAIL,
                f"at revision {', '.join(facts.revisions)}, the code needs {', '.join(facts.heads)}: run "
                "`warroom db upgrade` before starting the centre",
            )
        )
    else:
        found.append(Finding("schema", Level.OK, f"migrated to the head ({', '.join(facts.heads)})"))
    if facts.demo:
        found.append(Finding("centre", Level.OK, "a demo centre (`warroom demo seed`): the simulator may run here"))
    if facts.database_url.startswith("sqlite") and not facts.demo:
        found.append(
            Finding(
                "database",
                Level.WARN,
                "SQLite: one machine, one writer at a time; a centre in service runs on PostgreSQL (DATABASE_URL)",
            )
        )
    return found


def _secret_key(key: str, demo: bool) -> Finding:
    if key == DEV_SECRET_KEY or not key:
        if demo:
            return Finding("SECRET_KEY", Level.OK, "the development key, which a demo centre may use")
        return Finding(
            "SECRET_KEY",
            Level.FAIL,
            "not set (the development key anyone can read): anyone could sign a console login; set a long random "
            "value, the same on every node (python -c 'import secrets; print(secrets.token_urlsafe(48))')",
        )
    if len(key) < 32:
        return Finding("SECRET_KEY", Level.WARN, f"only {len(key)} characters: use 32 or more random ones")
    return Finding("SECRET_KEY", Level.OK, "set")


def _roads(facts: Facts) -> Finding:
    path = facts.roads_path
    if not path:
        return Finding(
            "roads", Level.FAIL, "no road extract: set WARROOM_ROADS to an OSM extract (PBF or Overpass JSON)"
        )
    if facts.roads_error:
        return Finding("roads", Level.FAIL, f"{path} cannot be read ({facts.roads_error}): check WARROOM_ROADS")
    if not facts.roads_format:
        return Finding(
            "roads",
            Level.FAIL,
            f"{path} is neither an OSM PBF/XML file nor an Overpass JSON document (its name ending decides "
            "how it is read: .pbf, .osm, .osm.gz, .osm.bz2, else Overpass JSON)",
        )
    if not facts.roads_cached:
        return Finding(
            "roads",
            Level.WARN,
            f"{path} ({facts.roads_format}) is not imported: the first start builds the graph (a minute for a "
            f'city); run `warroom roads import "$WARROOM_ROADS"` after each change of extract',
        )
    return Finding("roads", Level.OK, f"{path} ({facts.roads_format}), imported")


def _tool(name: str, path: str | None) -> Finding:
    if path:
        return Finding(name, Level.OK, path)
    return Finding(name, Level.WARN, f"not on PATH: {TOOL_COSTS.get(name, 'install it')}")


def _twilio(facts: Facts) -> Finding:
    sid, token, sender = facts.twilio_account_sid, facts.twilio_auth_token, facts.twilio_from
    if not (sid or token or sender):
        return Finding(
            "Twilio",
            Level.OK,
            "not configured: outbound SMS are kept and logged, the inbound webhook refuses every text",
        )
    wrong = []
    if sid and not TWILIO_SID.fullmatch(sid):
        wrong.append("TWILIO_ACCOUNT_SID is not AC followed by 32 hexadecimal digits")
    if token and not TWILIO_TOKEN.fullmatch(token):
        wrong.append("TWILIO_AUTH_TOKEN is not 32 hexadecimal digits")
    missing = [name for name, value in (("TWILIO_ACCOUNT_SID", sid), ("TWILIO_AUTH_TOKEN", token)) if not value]
    if missing:
        wrong.append(f"{' and '.join(missing)} unset: Twilio needs both")
    if wrong:
        return Finding("Twilio", Level.FAIL, "; ".join(wrong) + " (copy them from the Twilio console)")
    if not sender:
        return Finding("Twilio", Level.WARN, "credentials well formed, but TWILIO_FROM is unset: no SMS can go out")
    if not TWILIO_SENDER.fullmatch(sender):
        return Finding(
            "Twilio", Level.WARN, f"TWILIO_FROM={sender!r} is neither a +E.164 number, an MG… service nor a sender ID"
        )
    return Finding("Twilio", Level.OK, "credentials well formed (not checked with Twilio)")


def _public_url(url: str, secure_cookies: bool, twilio: bool, demo: bool) -> Finding:
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return Finding(
                "public URL", Level.FAIL, f"WARROOM_PUBLIC_URL={url!r} is not an http(s) URL with a host name"
            )
        if parts.scheme == "http" and secure_cookies:
            return Finding(
                "public URL",
                Level.FAIL,
                f"cookies are Secure (WARROOM_SECURE_COOKIES) but the public URL is {url}: browsers never send them "
                "back over http, nobody can log in; serve over https and say so in WARROOM_PUBLIC_URL",
            )
        if parts.scheme == "http" and not demo and parts.hostname not in ("localhost", "127.0.0.1"):
            return Finding(
                "public URL",
                Level.WARN,
                f"{url} is plain http: passwords and logins cross the network readable; put TLS in front "
                "and make it https://",
            )
        cookies = "Secure login cookies" if parts.scheme == "https" or secure_cookies else "login cookies"
        return Finding("public URL", Level.OK, f"{url}, {cookies}")
    if twilio:
        return Finding(
            "public URL",
            Level.WARN,
            "WARROOM_PUBLIC_URL unset: Twilio signs the address it posts to, so behind a proxy every text is "
            "refused; set it to the address Twilio reaches",
        )
    if secure_cookies or demo:
        return Finding("public URL", Level.OK, "unset: the request's own URL is used")
    return Finding(
        "public URL",
        Level.WARN,
        "unset and cookies not Secure: set WARROOM_PUBLIC_URL=https://… (or WARROOM_SECURE_COOKIES=1 when TLS "
        "ends at a proxy)",
    )


def _intake_token(is_set: bool, demo: bool) -> Finding:
    if is_set or demo:
        return Finding("intake token", Level.OK, "set" if is_set else "made up in the instance folder (a demo)")
    return Finding(
        "intake token",
        Level.WARN,
        "WARROOM_INTAKE_TOKEN unset: each machine makes its own, and a second node's SIP agents are refused; "
        "set one value everywhere",
    )


def _disk(facts: Facts) -> list[Finding]:
    found = []
    if not facts.instance_writable:
        found.append(
            Finding(
                "instance folder",
                Level.FAIL,
                f"{facts.instance_path} cannot be written: SIP journals, the road cache and reports go there "
                "(WARROOM_INSTANCE; give the service's user the folder)",
            )
        )
    for folder, free in sorted(facts.free_bytes.items()):
        if free is None:
            continue
        size = f"{free / (1 << 30):.1f} GiB free"
        if free < DISK_FAIL_BYTES:
            found.append(
                Finding("disk", Level.FAIL, f"{folder}: {size}: SIP journals stop being written; free space now")
            )
        elif free < DISK_WARN_BYTES:
            found.append(Finding("disk", Level.WARN, f"{folder}: {size}: journals and reports will fill it soon"))
        else:
            found.append(Finding("disk", Level.OK, f"{folder}: {size}"))
    return found
