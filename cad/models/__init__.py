"""All tables; import from here."""

from cad.models.audit import AuditEntry
from cad.models.calls import Call, Caller, CallerFlag, Message
from cad.models.centre import CentreMark, SimulatorLease
from cad.models.fleet import Camera, CongestionReading, DeviceReport, Position
from cad.models.incidents import Assignment, Incident, IncidentSequence, TimelineEvent
from cad.models.intake import IntakeFailure, SipAgentSeen
from cad.models.live import LiveEvent, RateLimitCounter, RateLimitEntry, SchedulerLease, apscheduler_jobs
from cad.models.organisation import Agency, Role, Station, Unit, User

__all__ = [
    "Agency",
    "Assignment",
    "AuditEntry",
    "Call",
    "Caller",
    "CallerFlag",
    "Camera",
    "CentreMark",
    "CongestionReading",
    "DeviceReport",
    "Incident",
    "IncidentSequence",
    "IntakeFailure",
    "LiveEvent",
    "Message",
    "Position",
    "RateLimitCounter",
    "RateLimitEntry",
    "Role",
    "SchedulerLease",
    "SimulatorLease",
    "SipAgentSeen",
    "Station",
    "TimelineEvent",
    "Unit",
    "User",
    "apscheduler_jobs",
]
