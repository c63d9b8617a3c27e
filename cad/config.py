"""Settings.from_env(): the one reader of environment variables."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = REPO_ROOT / "instance"
#: The demo city's roads, carried in the package (Balikpapan Kota, © OpenStreetMap contributors, ODbL;
#: cad/data/roads/README.md), so a bare clone or an installed wheel runs the demo: WARROOM_ROADS unset.
DEFAULT_ROADS = Path(__file__).resolve().parent / "data" / "roads" / "balikpapan_kota.overpass.json.gz"
#: The folder of the larger road extracts the tests and benches use (`../shared/data` beside the checkout),
#: or where WARROOM_DATA_DIR says. Read once at import; the running centre never looks here.
SHARED_DATA = Path(os.environ.get("WARROOM_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_path: Path
    roads_path: str
    timezone: str = "Asia/Makassar"
    incident_prefix: str = "MKS"
    secret_key: str = "dev-only-change-me"
    public_url: str = ""
    sip_port: int = 5060
    sip_allow: tuple[str, ...] = ("127.0.0.1",)
    sip_overflow: str = ""
    sip_workers: int = 0
    sip_queue_announcement: str = ""
    sip_invite_rate: int = 0
    sip_ring_s: float = 0.5
    sip_registrar: str = ""
    sip_account: str = ""
    sip_auth_user: str = ""
    sip_auth_password: str = ""
    node: str = ""  # WARROOM_NODE: this machine's name in the SIP agents' names (default: the host name)
    sip_agent_silent_s: float = 10.0
    sip_role: str = "all"  # WARROOM_SIP_ROLE: all (Kamailio and agents), agents (for another node's Kamailio), proxy
    sip_agent_bind: str = "127.0.0.1"  # WARROOM_SIP_AGENT_BIND: where the agents listen for Kamailio
    sip_remote_agents: str = ""  # WARROOM_SIP_REMOTE_AGENTS: other nodes' agents, host:first-last,…
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_api_url: str = ""
    position_stale_s: float = 120.0
    intake_token: str = ""
    congestion_ttl_s: float = 900.0
    ack_timeouts: str = ""
    unassigned_alert_s: str = ""  # WARROOM_UNASSIGNED_ALERT_S: PRIORITY:SECONDS,… (dispatch.alerts)
    escalate_every_s: float = 60.0  # WARROOM_ESCALATE_EVERY_S: an unanswered alert's next level
    run_cards_path: str = ""
    centre_url: str = "http://127.0.0.1:5000"
    gps_max_future_s: float = 60.0
    gps_max_age_s: float = 86400.0
    gps_rate: float = 5.0
    gps_burst: float = 300.0
    gps_batch_max: int = 1000
    gps_token_ttl_s: float = 30.0
    gps_geofence_m: float = 80.0
    gps_dwell_s: float = 20.0
    gps_auto_available: bool = False
    report_targets: str = ""  # JSON file of response-time targets; unset: the NFPA 1221/1710 ones
    report_shifts: str = "07-15,15-23,23-07"  # local (WARROOM_TZ) hours
    report_archive: str = ""  # folder of the scheduled PDFs; unset: <instance>/reports
    secure_cookies: bool = False
    map_tiles: str = ""
    geocoder_url: str = ""  # WARROOM_GEOCODER_URL: a Nominatim server for address search; unset: the extract only
    link_radius_m: float = 300.0
    link_window_s: float = 1800.0
    login_max_failures: int = 5
    login_lockout_s: float = 300.0
    redis_url: str = ""  # unset: limits are counted in the database
    proxies: int = 0  # reverse proxies in front that set X-Forwarded-For (HAProxy: 1)
    scheduler_lease_s: float = 15.0  # a standby scheduler takes over this long after the holder stops renewing
    coverage_targets: str = ""  # WARROOM_COVERAGE_TARGETS: TYPE:SECONDS,…; unset: 240 s (NFPA 1710) for every type

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        instance = Path(env.get("WARROOM_INSTANCE", str(DEFAULT_INSTANCE)))
        default_db = f"sqlite:///{instance / 'warroom.sqlite'}"
        return cls(
            database_url=_normalise_db_url(env.get("DATABASE_URL", default_db)),
            instance_path=instance,
            roads_path=env.get("WARROOM_ROADS", str(DEFAULT_ROADS)),
            timezone=env.get("WARROOM_TZ", "Asia/Makassar"),
            incident_prefix=env.get("WARROOM_INCIDENT_PREFIX", "MKS"),
            secret_key=env.get("SECRET_KEY", "dev-only-change-me"),
            public_url=env.get("WARROOM_PUBLIC_URL", ""),
            sip_port=int(env.get("WARROOM_SIP_PORT", "5060")),
            sip_allow=tuple(a.strip() for a in env.get("WARROOM_SIP_ALLOW", "127.0.0.1").split(",") if a.strip()),
            sip_overflow=env.get("WARROOM_SIP_OVERFLOW", ""),
            sip_workers=int(env.get("WARROOM_SIP_WORKERS", "0")),
            sip_queue_announcement=env.get("WARROOM_SIP_QUEUE_ANNOUNCEMENT", ""),
            sip_invite_rate=int(env.get("WARROOM_SIP_INVITE_RATE", "0")),
            sip_ring_s=float(env.get("WARROOM_SIP_RING_S", "0.5")),
            sip_registrar=env.get("WARROOM_SIP_REGISTRAR", ""),
            sip_account=env.get("WARROOM_SIP_ACCOUNT", ""),
            sip_auth_user=env.get("WARROOM_SIP_AUTH_USER", ""),
            sip_auth_password=env.get("WARROOM_SIP_AUTH_PASSWORD", ""),
            node=env.get("WARROOM_NODE", "").strip() or socket.gethostname(),
            sip_agent_silent_s=float(env.get("WARROOM_SIP_AGENT_SILENT_S", "10")),
            sip_role=env.get("WARROOM_SIP_ROLE", "all").strip().lower() or "all",
            sip_agent_bind=env.get("WARROOM_SIP_AGENT_BIND", "127.0.0.1").strip() or "127.0.0.1",
            sip_remote_agents=env.get("WARROOM_SIP_REMOTE_AGENTS", "").strip(),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_from=env.get("TWILIO_FROM", ""),
            twilio_api_url=env.get("TWILIO_API_URL", ""),
            position_stale_s=float(env.get("WARROOM_POSITION_STALE_S", "120")),
            intake_token=env.get("WARROOM_INTAKE_TOKEN", ""),
            congestion_ttl_s=float(env.get("WARROOM_CONGESTION_TTL_S", "900")),
            ack_timeouts=env.get("WARROOM_ACK_TIMEOUTS", ""),
            unassigned_alert_s=env.get("WARROOM_UNASSIGNED_ALERT_S", ""),
            escalate_every_s=max(5.0, float(env.get("WARROOM_ESCALATE_EVERY_S", "60"))),
            run_cards_path=env.get("WARROOM_RUN_CARDS", ""),
            centre_url=env.get("WARROOM_CENTRE_URL", "http://127.0.0.1:5000").rstrip("/"),
            gps_max_future_s=float(env.get("WARROOM_GPS_MAX_FUTURE_S", "60")),
            gps_max_age_s=float(env.get("WARROOM_GPS_MAX_AGE_S", "86400")),
            gps_rate=float(env.get("WARROOM_GPS_RATE", "5")),
            gps_burst=float(env.get("WARROOM_GPS_BURST", "300")),
            gps_batch_max=int(env.get("WARROOM_GPS_BATCH_MAX", "1000")),
            gps_token_ttl_s=float(env.get("WARROOM_GPS_TOKEN_TTL_S", "30")),
            gps_geofence_m=float(env.get("WARROOM_GPS_GEOFENCE_M", "80")),
            gps_dwell_s=float(env.get("WARROOM_GPS_DWELL_S", "20")),
            gps_auto_available=env.get("WARROOM_GPS_AUTO_AVAILABLE", "").strip().lower() in ("1", "true", "yes", "on"),
            report_targets=env.get("WARROOM_REPORT_TARGETS", ""),
            report_shifts=env.get("WARROOM_REPORT_SHIFTS", "07-15,15-23,23-07"),
            report_archive=env.get("WARROOM_REPORT_ARCHIVE", ""),
            secure_cookies=env.get("WARROOM_SECURE_COOKIES", "").strip().lower() in ("1", "true", "yes", "on")
            or env.get("WARROOM_PUBLIC_URL", "").startswith("https://"),
            map_tiles=env.get("WARROOM_MAP_TILES", "").strip(),
            geocoder_url=env.get("WARROOM_GEOCODER_URL", "").strip(),
            link_radius_m=float(env.get("WARROOM_LINK_RADIUS_M", "300")),
            link_window_s=float(env.get("WARROOM_LINK_WINDOW_S", "1800")),
            login_max_failures=int(env.get("WARROOM_LOGIN_MAX_FAILURES", "5")),
            login_lockout_s=float(env.get("WARROOM_LOGIN_LOCKOUT_S", "300")),
            redis_url=env.get("WARROOM_REDIS_URL", "").strip(),
            proxies=int(env.get("WARROOM_PROXIES", "0")),
            scheduler_lease_s=max(1.0, float(env.get("WARROOM_SCHEDULER_LEASE_S", "15"))),
            coverage_targets=env.get("WARROOM_COVERAGE_TARGETS", "").strip(),
        )

    @property
    def report_archive_path(self) -> Path:
        return Path(self.report_archive) if self.report_archive else self.instance_path / "reports"

    def shared_intake_token(self) -> str:
        """The secret the SIP agent shows the centre: WARROOM_INTAKE_TOKEN, or one made once and kept
        in the instance folder so `warroom serve` and `warroom sip` on one machine agree unconfigured."""
        if self.intake_token:
            return self.intake_token
        path = self.instance_path / "intake.token"
        if not path.exists():
            import secrets

            self.instance_path.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def flask_config(self) -> dict[str, object]:
        return {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            # a database that restarted leaves dead pooled connections: test each before use
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "SECRET_KEY": self.secret_key,
            # the consoles' login session: never readable by scripts, not sent on cross-site posts
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.secure_cookies,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": self.secure_cookies,
            "WARROOM": self,
        }


def _normalise_db_url(url: str) -> str:
    """Accept the usual `postgres://` and `postgresql://` spellings; we drive psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
