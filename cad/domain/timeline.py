"""The kinds of event the incident timeline holds: defined in the pure top-level `timeline`
package (dispatch and the report arithmetic use them and may not import `cad`), named here too
for the centre's code."""

from __future__ import annotations

from timeline.kinds import EventKind, incident_status_event

__all__ = ["EventKind", "incident_status_event"]
