"""The simulated call-taker and dispatcher: they take only what nobody at a console took within
`Options.grace_s`, so people stay in charge."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from simulator.centre import CentreError
from simulator.world import World

log = logging.getLogger(__name__)


class Desk(World):
    def _take_calls(self) -> None:
        self.at(2.0, self._take_calls)
        for call in self.centre.api("GET", "/calls", limit=200):
            self._take(call)

    def _take(self, call: dict[str, Any]) -> None:
        """The simulated call-taker: a call of ours nobody took within the grace time becomes an incident
        (a caller who already hung up is called back: the incident is made all the same)."""
        placed = self.stats.placed.get(call["phone"] or "")
        if call["incident_id"] is not None or placed is None or time.monotonic() - placed < self.options.grace_s:
            return
        with self._lock:
            taken = self.stories.pop(call["phone"], None)
        if taken is None:
            return
        story, (lat, lon) = taken
        if call["state"] == "ringing":
            try:
                self.centre.api("POST", f"/calls/{call['id']}/answer")
            except CentreError as error:  # hung up meanwhile
                if "illegal_transition" not in str(error):
                    raise
        body: dict[str, Any] = {
            "type": story.incident_type,
            "priority": story.priority,
            "description": story.description,
            "call_id": call["id"],
        }
        if not call.get("location"):
            body["location"] = {"lat": lat, "lon": lon, "accuracy_m": 50, "source": "manual"}
        created = time.monotonic()
        try:
            incident = self.centre.api("POST", "/incidents", body=body)
        except CentreError:
            with self._lock:
                self.stories[call["phone"]] = taken  # try again next round
            raise
        self.stats.incidents_created += 1
        self.stats.our_incidents.append(incident["id"])
        self._dispatch(incident["id"], created)

    def _take_incidents(self) -> None:
        self.at(3.0, self._take_incidents)
        now = datetime.now(UTC)
        for incident in self.centre.api("GET", "/incidents", status="open"):
            assignments = incident["assignments"]
            if not assignments and time.monotonic() - self.unplaced.get(incident["id"], -1e9) > 15:
                created = datetime.fromisoformat(incident["created_at"].replace("Z", "+00:00"))
                if (now - created).total_seconds() >= self.options.grace_s:
                    self._dispatch(incident["id"], None)
            elif incident["id"] in self.dispatched and not any(a["active"] for a in assignments):
                # its own jobs only: an incident a dispatcher at a console runs is theirs to close
                self.centre.api(
                    "POST",
                    f"/incidents/{incident['id']}/status",
                    body={"status": "closed", "disposition": "selesai_ditangani"},
                )
                self.dispatched.discard(incident["id"])

    def _dispatch(self, incident_id: int, created: float | None) -> None:
        try:
            offer = self.centre.api("GET", f"/incidents/{incident_id}/recommendations")
        except CentreError as error:
            if "no location" not in str(error):
                raise
            self.unplaced[incident_id] = time.monotonic()
            log.info("simulator: incident %s has no location yet; leaving it to the consoles", incident_id)
            return
        if created is not None:
            self.stats.recommend_s.append(time.monotonic() - created)
        units = [u for slot in offer["run_card"]["slots"] for u in slot["proposed"]]
        if not units and offer["recommendations"]:
            units = [offer["recommendations"][0]["unit_id"]]
        if units:
            try:
                self.centre.api("POST", f"/incidents/{incident_id}/dispatch", body={"unit_ids": units})
                self.stats.dispatches += 1
                self.dispatched.add(incident_id)
            except CentreError as error:  # someone at a console was quicker, or a unit just left
                log.info("simulator: dispatch of %s not taken: %s", incident_id, error)
