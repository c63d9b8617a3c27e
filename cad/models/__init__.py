"""All tables; import from here."""

from cad.models.calls import Call, Caller, CallerFlag, Message
from cad.models.fleet import Camera, CongestionReading, Position
from cad.models.incidents import Assignment, Incident, IncidentSequence, TimelineEvent
from cad.models.organisation import Agency, Role, Station, Unit, User

__all__ = [
    "Agency",
    "Assignment",
    "Call",
    "Caller",
    "CallerFlag",
    "Camera",
    "CongestionReading",
    "Incident",
    "IncidentSequence",
    "Message",
    "Position",
    "Role",
    "Station",
    "TimelineEvent",
    "Unit",
    "User",
]
