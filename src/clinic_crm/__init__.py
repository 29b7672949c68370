"""clinic_crm: the patient-relationship layer for small and medium clinics.

The public names are those of ``shared/CONTRACT.md``: the facade, the error
tree, the sender protocol's message type, the survey ``Question``, and the
result types the contract's calls return; plus ``RetryPolicy`` (dispatch's
retries) and the typed update inputs ``PatientFields`` / ``ClinicSettings``.  Everything else lives in
sub-modules (``clinic_crm.testing`` for test doubles, ``clinic_crm.messaging``
for senders).
"""

from clinic_crm.crm import ClinicCRM
from clinic_crm.errors import (
    ClinicCRMError,
    Conflict,
    DatabaseUnavailable,
    DeliveryError,
    DuplicatePatient,
    InvalidAnswer,
    InvalidEmail,
    InvalidPhoneNumber,
    InvalidTransition,
    NaiveDatetimeError,
    NotApproved,
    NotFound,
    TokenExpired,
    TokenUsed,
    UnknownToken,
    ValidationError,
)
from clinic_crm.messaging.message import OutboundMessage, Sender
from clinic_crm.messaging.post import PublicPost, Publisher
from clinic_crm.models import (
    Alert,
    AuditEvent,
    CarePlan,
    Case,
    CaseEvent,
    Clinic,
    ConsentEvent,
    Contact,
    Event,
    FollowUp,
    Incident,
    Invitation,
    Mention,
    Patient,
    Playbook,
    Post,
    Registration,
    Reminder,
    Response,
    Risk,
    Statement,
    Survey,
    TeamMember,
    TimelineEntry,
    Visit,
)
from clinic_crm.services.clinics import ClinicSettings
from clinic_crm.services.crisis.rules import Check, Readiness
from clinic_crm.services.events.stats import EventStats
from clinic_crm.services.feedback.policies import CasePolicy
from clinic_crm.services.feedback.sla import SlaResult
from clinic_crm.services.imports import ImportReport, RowError
from clinic_crm.services.patient_rights.duplicates import DuplicatePair
from clinic_crm.services.patients import PatientFields
from clinic_crm.services.posts.publishing import PublishReport
from clinic_crm.services.reminders.dispatch import DispatchReport, RetryPolicy
from clinic_crm.services.reputation import IngestReport, ReputationSummary, ReviewSource
from clinic_crm.services.surveys.stats import CsatResult, NpsResult, ResponseRate
from clinic_crm.surveys_types import Question

__all__ = [
    # the facade
    "ClinicCRM",
    # errors
    "ClinicCRMError",
    "ValidationError",
    "InvalidPhoneNumber",
    "InvalidEmail",
    "NaiveDatetimeError",
    "InvalidAnswer",
    "NotFound",
    "UnknownToken",
    "Conflict",
    "DuplicatePatient",
    "InvalidTransition",
    "TokenExpired",
    "TokenUsed",
    "NotApproved",
    "DeliveryError",
    "DatabaseUnavailable",
    # messaging
    "OutboundMessage",
    "Sender",
    "PublicPost",
    "Publisher",
    # surveys
    "Question",
    # what the calls return
    "Clinic",
    "Patient",
    "ConsentEvent",
    "Visit",
    "Reminder",
    "CarePlan",
    "Survey",
    "Invitation",
    "Response",
    "FollowUp",
    "ImportReport",
    "RowError",
    "DispatchReport",
    "NpsResult",
    "CsatResult",
    "ResponseRate",
    "Case",
    "CaseEvent",
    "CasePolicy",
    "SlaResult",
    # reputation
    "Mention",
    "Alert",
    "IngestReport",
    "ReputationSummary",
    "ReviewSource",
    # crisis readiness
    "Risk",
    "TeamMember",
    "Contact",
    "Playbook",
    "Readiness",
    "Check",
    "Incident",
    "TimelineEntry",
    "Statement",
    "Post",
    "PublishReport",
    "Event",
    "Registration",
    "EventStats",
    "DuplicatePair",
    "AuditEvent",
    # added on purpose beyond the contract: dispatch's retry settings, typed update inputs
    "RetryPolicy",
    "PatientFields",
    "ClinicSettings",
]
__version__ = "0.1.0"
