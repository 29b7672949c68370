"""clinic_crm: the patient-relationship layer for small and medium clinics.

The public names are those of ``shared/CONTRACT.md``; everything else lives in
sub-modules (``clinic_crm.testing`` for test doubles, ``clinic_crm.errors`` for
the error tree).
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
    NotFound,
    TokenExpired,
    TokenUsed,
    UnknownToken,
    ValidationError,
)
from clinic_crm.surveys_types import Question

__all__ = [
    "ClinicCRM",
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
    "DeliveryError",
    "Question",
]
__version__ = "0.1.0"
