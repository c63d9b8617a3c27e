"""`warroom sip`: the 112 SIP user agent on pjsua2.

One process, one pjsua2 endpoint, driven from one thread (pjsua2 from PyPI is not safe to
call from several). Every INVITE, hang-up and MESSAGE is screened (telephony.screening),
written to the local journal, and only then carried to the centre by the courier thread,
so a centre or database that is down loses nothing. The agent answers at once (180,
then 200 with SDP); the call stays `ringing` for the call-takers until one picks it up.
"""

from __future__ import annotations

import gc
import logging
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pjsua2 as pj
import requests

from telephony.courier import Courier
from telephony.journal import Journal
from telephony.pool import (
    NOBODY_TO_HAND_ON,
    RETRY_AFTER_S,
    Placement,
    logged_whole,
    offered_as_pool_full,
    place_call,
)
from telephony.replies import RepliesInFlight, Reply, delivery_status
from telephony.screening import Network, allowed_networks, screen_invite, screen_message

log = logging.getLogger(__name__)
#: The agent stops naming itself in its polls (its heartbeat) when its pjsua2 thread has not turned for this long.
HEARTBEAT_STALE_S = 3.0
#: How long the agent lets the centre hold its outbox poll (the centre holds it for less: half the silence
#: it allows an agent, `cad.domain.sip_agents.outbox_hold_s`), and how much longer it waits for the answer.
OUTBOX_WAIT_S = 25.0
POLL_GRACE_S = 10.0


@dataclass(frozen=True)
class AgentConfig:
    port: int
    allow: tuple[str, ...]
    centre_url: str
    intake_token: str
    journal_dir: Path
    bind: str = "0.0.0.0"
    rtp_port: int = 40000
    rtp_ports: int = 100
    log_level: int = 1
    ring_s: float = 0.5  # the caller hears ringing this long before the agent takes the call
    registrar: str = ""  # sip:pbx.example.id — register there as `account_uri` when set
    account_uri: str = ""
    auth_user: str = ""
    auth_password: str = ""
    overflow: str = ""  # WARROOM_SIP_OVERFLOW: where calls go when every agent is full (302)
    behind_proxy: bool = False  # a full agent hands calls back to the proxy (503) until it says all are full
    queue_announcement: str = ""  # a WAV file played (looped, early media) to a caller waiting in the queue
    name: str = ""  # WARROOM_NODE:port, on record with each call it holds; its polls are its heartbeat

    @property
    def agent_name(self) -> str:
        return self.name or f"{socket.gethostname()}:{self.port}"


class AgentCall(pj.Call):  # type: ignore[misc]
    def __init__(self, agent: SipAgent, account: pj.Account, call_id: int, sip_call_id: str) -> None:
        super().__init__(account, call_id)
        self.agent = agent
        self.sip_call_id = sip_call_id
        self.confirmed = False
        self.announcing: Any = None

    def onCallMediaState(self, prm: Any) -> None:
        self.agent.media_ready(self)

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.confirmed = True
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            reason = "bye" if self.confirmed else "cancel"
            self.agent.call_ended(self, reason, info.lastStatusCode)


class AgentAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, agent: SipAgent) -> None:
        super().__init__()
        self.agent = agent

    def onIncomingCall(self, prm: Any) -> None:
        self.agent.incoming_call(self, prm)

    def onInstantMessage(self, prm: Any) -> None:
        self.agent.instant_message(prm)

    def onInstantMessageStatus(self, prm: Any) -> None:
        self.agent.text_status(prm.toUri, prm.code, prm.reason)


class OutboxPoller(threading.Thread):
    """Fetches the call-takers' replies to SIP MESSAGE conversations and reports how they went.

    The poll is a long poll: the centre holds it until a reply is queued (up to `wait_s`, and at most
    half the silence it allows an agent), and it is sent again at once; a centre that answers at once
    with nothing is asked once every `every_s`. The delivery reports (message id, `sent` or `failed`,
    why) go from a thread of their own, as soon as they come, not after a held poll. HTTP stays off the
    pjsua2 thread: messages go to it through `agent.commands`, reports come back through `reports`."""

    def __init__(self, agent: SipAgent, every_s: float = 1.0, wait_s: float = OUTBOX_WAIT_S) -> None:
        super().__init__(name="sip-outbox", daemon=True)
        self.agent = agent
        self.every_s = every_s
        self.wait_s = wait_s
        self.reports: queue.Queue[tuple[int, str, str | None]] = queue.Queue()
        self._halt = threading.Event()
        self._http = requests.Session()
        self._reporter = threading.Thread(target=self._report_all, name="sip-outbox-reports", daemon=True)
        base = agent.config.centre_url.rstrip("/")
        self._claim_url = f"{base}/telephony/sip/outbox/claim"
        self._report_url = f"{base}/telephony/sip/outbox/{{}}"
        self._headers = {"Authorization": f"Bearer {agent.config.intake_token}"}

    def start(self) -> None:
        super().start()
        self._reporter.start()

    def stop(self) -> None:
        """Send what is left to report (the reporter drains its queue), and leave a held poll behind."""
        self._halt.set()
        self._reporter.join(5)
        self.join(1)

    def run(self) -> None:
        while not self._halt.is_set():
            started = time.monotonic()
            messages: list[dict[str, Any]] = []
            try:
                # the poll is the agent's heartbeat, while its pjsua2 thread is turning: the centre
                # closes the calls of an agent it stops hearing from (cad.services.sip_agents)
                alive = time.monotonic() - self.agent.loop_at < HEARTBEAT_STALE_S
                body: dict[str, Any] = {"wait_s": self.wait_s}
                if alive:
                    body["agent"] = self.agent.config.agent_name
                claimed = self._http.post(
                    self._claim_url, json=body, headers=self._headers, timeout=self.wait_s + POLL_GRACE_S
                )
                if claimed.status_code == 200:
                    messages = claimed.json()
            except (requests.RequestException, ValueError) as error:
                log.debug("outbox poll failed (retried): %s", error)
            for message in messages:
                if self._halt.is_set():  # claimed as the agent stopped: nobody will send it
                    self._post_report(message["id"], "failed", "the SIP agent stopped before sending it")
                else:
                    self.agent.commands.put(("send", message))
            if not messages:  # nothing came at once (a centre down, or one that does not hold polls)
                self._halt.wait(self.every_s - (time.monotonic() - started))

    def _report_all(self) -> None:
        """Each report as soon as it comes; one the centre could not store (5xx, or unreachable) is
        tried again every `every_s`, until the agent stops."""
        while True:
            try:
                message_id, status, error = self.reports.get(timeout=0.2)
            except queue.Empty:
                if self._halt.is_set():
                    return
                continue
            while not self._post_report(message_id, status, error) and not self._halt.wait(self.every_s):
                pass

    def _post_report(self, message_id: int, status: str, error: str | None) -> bool:
        body = {"status": status, "error": error[:300] if error else None}
        try:
            answer = requests.post(self._report_url.format(message_id), json=body, headers=self._headers, timeout=5)
        except requests.RequestException as failure:
            log.warning("delivery report %d not sent (retried): %s", message_id, failure)
            return False
        return answer.status_code < 500  # 5xx: the centre could not store it (database down)


class SipAgent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.networks: tuple[Network, ...] = allowed_networks(config.allow)
        self.journal = Journal(config.journal_dir)
        self.courier = Courier(
            self.journal, f"{config.centre_url.rstrip('/')}/telephony/sip/events", config.intake_token
        )
        self.outbox = OutboxPoller(self)
        self.calls: dict[int, AgentCall] = {}
        self.buddies: dict[str, pj.Buddy] = {}
        self.replies = RepliesInFlight()
        self.ringing: dict[int, float] = {}  # pjsua call index → when to answer 200
        self.refused: dict[int, AgentCall] = {}
        self.queued: list[int] = []  # calls in the reserved slot, waiting for a slot to free
        self.announcement: Any = None  # the queue announcement's player, when one is configured
        self._next_reg_check = 0.0
        self._reg_status = -1
        self.commands: queue.Queue[Any] = queue.Queue()
        self.loop_at = time.monotonic()  # when the pjsua2 thread last turned (the heartbeat reads it)
        self._running = threading.Event()
        self.endpoint = pj.Endpoint()
        self.account: AgentAccount | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = True
        ep_cfg.uaConfig.userAgent = "WarRoom112"
        ep_cfg.logConfig.level = self.config.log_level
        ep_cfg.logConfig.consoleLevel = self.config.log_level
        ep_cfg.medConfig.sndAutoCloseTime = -1
        ep_cfg.medConfig.noVad = True
        self.endpoint.libCreate()
        self.endpoint.libInit(ep_cfg)
        for kind in (pj.PJSIP_TRANSPORT_UDP, pj.PJSIP_TRANSPORT_TCP):
            transport = pj.TransportConfig()
            transport.port = self.config.port
            transport.boundAddress = self.config.bind
            self.endpoint.transportCreate(kind, transport)
        self.endpoint.libStart()
        self.endpoint.audDevManager().setNullDev()
        account_cfg = pj.AccountConfig()
        account_cfg.idUri = self.config.account_uri or f"sip:112@{self._host()}:{self.config.port}"
        if self.config.registrar:
            account_cfg.regConfig.registrarUri = self.config.registrar
            account_cfg.regConfig.timeoutSec = 300
            if self.config.auth_user:
                account_cfg.sipConfig.authCreds.append(
                    pj.AuthCredInfo("digest", "*", self.config.auth_user, 0, self.config.auth_password)
                )
        account_cfg.mediaConfig.transportConfig.port = self.config.rtp_port
        account_cfg.mediaConfig.transportConfig.portRange = self.config.rtp_ports
        self.account = AgentAccount(self)
        self.account.create(account_cfg, True)
        if self.config.queue_announcement:
            try:
                self.announcement = pj.AudioMediaPlayer()
                self.announcement.createPlayer(self.config.queue_announcement, 0)  # 0: loop
            except pj.Error as error:
                log.error("queue announcement %s unusable: %s", self.config.queue_announcement, error.info())
                self.announcement = None
        for sip_call_id in self.journal.unfinished_calls():
            # an earlier run died holding these calls: their media died with it
            self.journal.append(
                "end",
                {
                    "sip_call_id": sip_call_id,
                    "ended_at": datetime.now(UTC).isoformat(),
                    "reason": "agent_died",
                    "status": 0,
                },
            )
        self.courier.start()
        self.outbox.start()
        self.courier.notify()  # replay whatever an earlier run left undelivered
        self._running.set()
        log.info(
            "SIP agent on %s:%d (UDP+TCP), journal %s, %d entries to replay",
            self.config.bind,
            self.config.port,
            self.config.journal_dir,
            len(self.journal.pending()),
        )

    def run(self, poll_ms: int = 10) -> None:
        """The pjsua2 thread: handle SIP events until stopped."""
        while self._running.is_set():
            self.endpoint.libHandleEvents(poll_ms)
            self.loop_at = time.monotonic()
            if self.ringing:
                self._answer_due(time.monotonic())
            if self.config.registrar and time.monotonic() >= self._next_reg_check:
                self._check_registration()
            while not self.commands.empty():
                command, data = self.commands.get_nowait()
                if command == "send":
                    self.send_text(data["id"], data["to"], data["body"])

    def stop(self) -> None:
        self._running.clear()

    def shutdown(self) -> None:
        """Hang up, drop every Call before libDestroy, flush the courier, close the journal."""
        try:
            self.endpoint.hangupAllCalls()
            for _ in range(20):
                self.endpoint.libHandleEvents(10)
        finally:
            self.calls.clear()
            self.refused.clear()
            self.buddies.clear()
            self.announcement = None
            gc.collect()  # every Call and Buddy wrapper goes before libDestroy, or pjsua asserts
            if self.account is not None:
                self.account.shutdown()
                self.account = None
            self.endpoint.libDestroy()
            for message_id in self.replies.abandon():  # nobody will learn whether the phone got them
                self.outbox.reports.put((message_id, "failed", "the SIP agent stopped before an answer came"))
            while not self.commands.empty():  # claimed for this agent, never sent
                command, data = self.commands.get_nowait()
                if command == "send":
                    self.outbox.reports.put((data["id"], "failed", "the SIP agent stopped before sending it"))
            self.outbox.stop()
            self.courier.stop()
            self.journal.close()
        log.info("SIP agent stopped")

    def _host(self) -> str:
        return "127.0.0.1" if self.config.bind in ("0.0.0.0", "") else self.config.bind

    # --- events (called on the pjsua2 thread) -------------------------------------

    def incoming_call(self, account: AgentAccount, prm: Any) -> None:
        now = datetime.now(UTC)
        screened = screen_invite(prm.rdata.wholeMsg, prm.rdata.srcAddress, self.networks, now)
        sip_call_id = str(screened.payload.get("sip_call_id") or "")
        call = AgentCall(self, account, prm.callId, sip_call_id)
        op = pj.CallOpParam()
        if screened.status != 200:
            log.warning("INVITE from %s refused %d: %s", prm.rdata.srcAddress, screened.status, screened.reason)
            op.statusCode = screened.status
            op.reason = screened.reason[:60]
            self.refused[prm.callId] = call  # kept until pjsua2 reports it disconnected
            call.hangup(op)
            return
        if screened.warning and logged_whole(prm.rdata.wholeMsg):
            # the proxy cut the body down to the SDP offer and reports the location itself
            screened = replace(screened, warning=None, payload={**screened.payload, "location_warning": None})
        if screened.warning:
            log.warning("call %s: %s", sip_call_id, screened.warning)
        placement = place_call(
            len(self.calls) + len(self.refused),
            behind_proxy=self.config.behind_proxy,
            pool_full=offered_as_pool_full(prm.rdata.wholeMsg),
            overflow=self.config.overflow,
            queued=len(self.queued),
        )
        if placement is Placement.TURN_AWAY:
            # nobody to hand the call on to: it is on record, never a busy tone nobody saw
            self.journal.append("overflow", {**screened.payload, "target": NOBODY_TO_HAND_ON}, now)
            self.courier.notify()
            log.warning("call %s turned away with 503: every line of this agent busy", sip_call_id)
        if placement in (Placement.HAND_ON, Placement.TURN_AWAY):
            op.statusCode = 503
            op.reason = "All lines of this agent busy"
            op.txOption.headers.append(_header("Retry-After", str(RETRY_AFTER_S)))
            self.refused[prm.callId] = call
            call.hangup(op)
            return
        if placement is Placement.REDIRECT:
            self.journal.append("overflow", {**screened.payload, "target": self.config.overflow}, now)
            self.courier.notify()
            op.statusCode = 302
            op.reason = "Every call-taker busy: overflow centre"
            op.txOption.headers.append(_header("Contact", f"<{self.config.overflow}>"))
            self.refused[prm.callId] = call
            call.hangup(op)
            log.warning("call %s redirected to %s: every agent full", sip_call_id, self.config.overflow)
            return
        queued = placement is Placement.QUEUE
        payload = {**screened.payload, "agent": self.config.agent_name}
        self.journal.append("invite", {**payload, "queued": True} if queued else payload, now)
        self.courier.notify()
        self.calls[prm.callId] = call
        op.statusCode = 183 if queued and self.announcement is not None else 180
        call.answer(op)
        if queued:
            self.queued.append(prm.callId)
            log.warning("call %s queued: every agent full, the caller keeps ringing", sip_call_id)
        else:
            self.ringing[prm.callId] = time.monotonic() + self.config.ring_s

    def _check_registration(self) -> None:
        """Log each change of the registration at the PBX (read once a second: the PyPI build
        of pjsua2 did not deliver onRegState to Python here)."""
        self._next_reg_check = time.monotonic() + 1.0
        if self.account is None:
            return
        info = self.account.getInfo()
        if info.regStatus != self._reg_status:
            self._reg_status = info.regStatus
            level = logging.INFO if info.regStatus // 100 == 2 else logging.WARNING
            log.log(level, "registration at %s: %s %s", self.config.registrar, info.regStatus, info.regStatusText)

    def _answer_due(self, now: float) -> None:
        for call_index, due in list(self.ringing.items()):
            if due > now:
                continue
            del self.ringing[call_index]
            call = self.calls.get(call_index)
            if call is None:
                continue  # cancelled while ringing
            op = pj.CallOpParam()
            op.statusCode = 200
            try:
                call.answer(op)
            except pj.Error as error:
                log.warning("could not answer call %s: %s", call.sip_call_id, error.info())

    def call_ended(self, call: AgentCall, reason: str, status: int) -> None:
        index = call.getId()
        self.ringing.pop(index, None)
        was_queued = index in self.queued
        if was_queued:
            self.queued.remove(index)
        # The last reference goes now, inside the callback: pjsua2 reuses the slot at once, and a
        # wrapper freed later would clear the user data of the next call in it (which then gets 603).
        if self.calls.pop(index, None) is None:  # one we refused: nothing to record
            self.refused.pop(index, None)
            return
        self.journal.append(
            "end",
            {
                "sip_call_id": call.sip_call_id,
                "ended_at": datetime.now(UTC).isoformat(),
                "reason": reason,
                "status": status,
            },
        )
        if self.queued and not was_queued:
            self._connect_queued()
        self.courier.notify()

    def media_ready(self, call: AgentCall) -> None:
        """A queued caller's early media is up: play the announcement to them until a line frees."""
        index = call.getId()
        if self.announcement is None or index not in self.queued or call.announcing is not None:
            return
        info = call.getInfo()
        for slot, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                call.announcing = call.getAudioMedia(slot)
                self.announcement.startTransmit(call.announcing)
                log.info("call %s: queue announcement playing", call.sip_call_id)
                return

    def _connect_queued(self) -> None:
        """A slot freed: the caller who waited longest in the queue is taken now."""
        index = self.queued.pop(0)
        call = self.calls.get(index)
        if call is None:
            return
        self.journal.append(
            "connected", {"sip_call_id": call.sip_call_id, "connected_at": datetime.now(UTC).isoformat()}
        )
        self.ringing[index] = time.monotonic()

    def instant_message(self, prm: Any) -> None:
        now = datetime.now(UTC)
        screened = screen_message(
            prm.rdata.wholeMsg, prm.rdata.srcAddress, self.networks, now, prm.msgBody, prm.contactUri
        )
        if screened.status != 200:
            log.warning("MESSAGE from %s ignored: %s", prm.rdata.srcAddress, screened.reason)
            return
        self.journal.append("message", screened.payload, now)
        self.courier.notify()

    def send_text(self, message_id: int, to: str, body: str) -> None:
        """A reply to a text-to-112 conversation, as SIP MESSAGE to where the sender's texts come
        from; `sent` or `failed` is reported when its final response comes (`text_status`)."""
        reply = Reply(message_id, to, body)
        if self.replies.offer(reply):
            self._send_reply(reply)

    def _send_reply(self, reply: Reply) -> None:
        try:
            buddy = self.buddies.get(reply.to)
            if buddy is None:
                buddy_cfg = pj.BuddyConfig()
                buddy_cfg.uri = reply.to
                buddy_cfg.subscribe = False
                buddy = pj.Buddy()
                buddy.create(self.account, buddy_cfg)
                self.buddies[reply.to] = buddy
            prm = pj.SendInstantMessageParam()
            prm.content = reply.body
            prm.contentType = "text/plain"
            buddy.sendInstantMessage(prm)
        except pj.Error as error:
            log.error("SIP MESSAGE %d to %s failed: %s", reply.message_id, reply.to, error.info())
            self._settle(reply.to, "failed", error.info(), reply.message_id)

    def text_status(self, to: str, code: int, reason: str) -> None:
        """pjsua2's final response to a reply (a timeout or a transport error comes as 408/503)."""
        self._settle(to, delivery_status(code), f"{code} {reason}")

    def _settle(self, to: str, status: str, why: str, message_id: int | None = None) -> None:
        settled, following = self.replies.settle(to, message_id)
        if settled is None:
            if message_id is None:
                log.warning("delivery report for %s (%s) matches no reply in flight", to, why)
            return
        level = logging.INFO if status == "sent" else logging.WARNING
        log.log(level, "SIP MESSAGE %d to %s %s: %s", settled, to, status, why)
        self.outbox.reports.put((settled, status, None if status == "sent" else why))
        if following is not None:
            self._send_reply(following)


def _header(name: str, value: str) -> pj.SipHeader:
    header = pj.SipHeader()
    header.hName = name
    header.hValue = value
    return header


def serve(config: AgentConfig) -> None:
    """Run until SIGINT/SIGTERM, then shut down cleanly."""
    agent = SipAgent(config)
    agent.start()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping the SIP agent", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        agent.run()
    finally:
        agent.shutdown()
