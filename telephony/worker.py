"""One SIP agent of a pool, started by the supervisor: `python -m telephony.worker --port P …`.

The same agent as `warroom sip`, without loading the web application (Flask, the models):
a worker that died is back answering in well under a second of interpreter start.
"""

from __future__ import annotations

import argparse
import logging

from cad.config import Settings
from telephony.sip_agent import AgentConfig, serve


def agent_config(
    settings: Settings,
    port: int,
    *,
    bind: str = "0.0.0.0",
    rtp_port: int | None = None,
    log_level: int = 1,
    behind_proxy: bool = False,
) -> AgentConfig:
    """The agent on `port`, configured from the environment (`Settings`)."""
    return AgentConfig(
        port=port,
        allow=settings.sip_allow,
        centre_url=settings.centre_url,
        intake_token=settings.shared_intake_token(),
        journal_dir=settings.instance_path / "sip-journal" / str(port),
        bind=bind,
        rtp_port=rtp_port or 40000 + (port % 100) * 100,
        log_level=log_level,
        ring_s=settings.sip_ring_s,
        registrar=settings.sip_registrar,
        account_uri=settings.sip_account,
        auth_user=settings.sip_auth_user,
        auth_password=settings.sip_auth_password,
        overflow=settings.sip_overflow,
        behind_proxy=behind_proxy,
        queue_announcement=settings.sip_queue_announcement,
        name=f"{settings.node}:{port}",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--rtp-port", type=int, default=None)
    parser.add_argument("--pjsip-log-level", type=int, default=1)
    parser.add_argument("--behind-proxy", action="store_true", help="a full agent answers 503 to the proxy")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = agent_config(
        Settings.from_env(),
        args.port,
        bind=args.bind,
        rtp_port=args.rtp_port,
        log_level=args.pjsip_log_level,
        behind_proxy=args.behind_proxy,
    )
    print(f"SIP pool worker starting on {args.bind}:{args.port}, reporting to {config.centre_url}", flush=True)
    serve(config)


if __name__ == "__main__":
    main()
