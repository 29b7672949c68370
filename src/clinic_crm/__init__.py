"""clinic_crm: the patient-relationship layer for small and medium clinics.

The public names are those of ``shared/CONTRACT.md``: the facade, the error
tree, the sender protocol's message type, the survey ``Question``, and the
result types the contract's calls return.  Everything else lives in
sub-modules (``clinic_crm.testing`` for test doubles, ``clinic_crm.messaging``
for senders).
"""

from clinic_crm.crm import ClinicCRM
from clinic_crm.errors import (
    ClinicCRMError,
    Conflict,
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
    AuditEvent,
    CarePlan,
    Clinic,
    ConsentEvent,
    FollowUp,
    Invitation,
    Patient,
    Reminder,
    Response,
    Survey,
    Visit,
)
from clinic_crm.services.imports import ImportReport, RowError
from clinic_crm.services.patient_rights.duplicates import DuplicatePair
from clinic_crm.services.reminders.dispatch import DispatchReport
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
    "DuplicatePair",
    "AuditEvent",
]
__version__ = "0.1.0"
