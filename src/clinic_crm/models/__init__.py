"""The table models, one module per aggregate; importing this package registers every table on ``metadata``."""

from clinic_crm.models._base import Base, UTCDateTime, metadata
from clinic_crm.models.audit import AUDIT_ACTIONS, AuditEvent, AuditHead
from clinic_crm.models.clinics import Clinic, ClinicDay
from clinic_crm.models.crisis import CRISIS_TYPES, INCIDENT_SEVERITIES, Incident
from clinic_crm.models.patients import CHANNELS, PURPOSES, ConsentEvent, Patient
from clinic_crm.models.reminders import (
    CarePlan,
    ClinicPause,
    Greeting,
    InboundReply,
    MessageTemplate,
    Reminder,
)
from clinic_crm.models.surveys import Answer, FollowUp, Invitation, Response, Survey
from clinic_crm.models.visits import VISIT_STATUSES, VISIT_TRANSITIONS, Visit

__all__ = [
    "Base",
    "UTCDateTime",
    "metadata",
    "Clinic",
    "ClinicDay",
    "Patient",
    "ConsentEvent",
    "CHANNELS",
    "PURPOSES",
    "Visit",
    "VISIT_STATUSES",
    "VISIT_TRANSITIONS",
    "CarePlan",
    "Reminder",
    "ClinicPause",
    "InboundReply",
    "MessageTemplate",
    "Greeting",
    "Survey",
    "Invitation",
    "Response",
    "Answer",
    "FollowUp",
    "Incident",
    "CRISIS_TYPES",
    "INCIDENT_SEVERITIES",
    "AuditEvent",
    "AuditHead",
    "AUDIT_ACTIONS",
]
