"""Every error clinic_crm raises, in one tree.

::

    ClinicCRMError
    ├── ValidationError            .field names the offending field
    │   ├── InvalidPhoneNumber     .value holds the input as given
    │   ├── InvalidEmail           .value holds the input as given
    │   ├── NaiveDatetimeError
    │   └── InvalidAnswer          .field is the survey question key
    ├── NotFound
    │   └── UnknownToken
    └── Conflict
        ├── DuplicatePatient       same external_id in the same clinic
        ├── InvalidTransition      visit state machine
        ├── TokenExpired
        ├── TokenUsed
        └── NotApproved            a crisis statement not approved, or external before staff were told
    DeliveryError (also a ClinicCRMError)   raised by senders; .retryable
    DatabaseUnavailable (also a ClinicCRMError)   the database cannot be reached, is locked, or is not
                                                  migrated; .retryable

Messages say what was wrong and what was expected; they never contain a
patient's name, phone number or e-mail address.  The offending input is
kept only on ``InvalidPhoneNumber.value`` and ``InvalidEmail.value``, where
the caller put it, and is left out of ``str()`` and ``repr()``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
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
]


_CODE = re.compile(r"[A-Za-z0-9._-]{1,20}")


class ClinicCRMError(Exception):
    """Base of every error raised by clinic_crm."""


class ValidationError(ClinicCRMError, ValueError):
    """Input was rejected before anything was written.

    Attributes:
        field: the name of the offending parameter, column or question key.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidPhoneNumber(ValidationError):
    """A phone number that the clinic's region cannot parse into a valid number.

    Attributes:
        value: the input exactly as given (never shown in the message).
    """

    def __init__(self, message: str, *, field: str = "phone", value: Any = None) -> None:
        super().__init__(message, field=field)
        self.value = value

    def __repr__(self) -> str:
        return f"InvalidPhoneNumber({str(self)!r}, field={self.field!r})"


class InvalidEmail(ValidationError):
    """An e-mail address that is not deliverable-shaped.

    Attributes:
        value: the input exactly as given (never shown in the message).
    """

    def __init__(self, message: str, *, field: str = "email", value: Any = None) -> None:
        super().__init__(message, field=field)
        self.value = value

    def __repr__(self) -> str:
        return f"InvalidEmail({str(self)!r}, field={self.field!r})"


class NaiveDatetimeError(ValidationError):
    """A datetime without a time zone was given where an aware one is required."""


class InvalidAnswer(ValidationError):
    """A survey answer is missing, out of range or of the wrong type; ``.field`` is the question key."""


class NotFound(ClinicCRMError, LookupError):
    """No row with the given id exists."""


class UnknownToken(NotFound):
    """No survey invitation carries this token."""


class Conflict(ClinicCRMError):
    """The request contradicts what is stored."""


class DuplicatePatient(Conflict):
    """Another patient of the same clinic already has this ``external_id``."""


class InvalidTransition(Conflict):
    """A visit cannot move from its current status to the requested one.

    Attributes:
        current: the visit's status now.
        requested: the status that was asked for.
    """

    def __init__(self, message: str, *, current: str | None = None, requested: str | None = None) -> None:
        super().__init__(message)
        self.current = current
        self.requested = requested


class TokenExpired(Conflict):
    """The survey invitation's token is past its expiry."""


class TokenUsed(Conflict):
    """The survey invitation's token was already used for a response."""


class NotApproved(Conflict):
    """A crisis statement cannot be published: its version is not approved, or it is for an outside
    audience and no staff statement of the incident has been published yet."""


class DeliveryError(ClinicCRMError):
    """Raised by a sender when a message could not be handed to the provider.

    Attributes:
        retryable: ``True`` when trying again later may succeed (time-outs,
            rate limits, 5xx answers); ``False`` for permanent failures.
        code: the provider's status or reply code (``"503"``, ``"550"``), if any.  What the library stores of a
            failure is the error class, ``retryable`` and this code — never the message text, which a provider
            may fill with the address or the words it was sent.
    """

    def __init__(self, message: str, *, retryable: bool = False, code: str | int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = None if code is None else str(code)

    def stored_text(self) -> str:
        """What the library stores of this failure: the class, permanent or retryable, and the provider's code.

        Built from structured facts only, so it cannot hold an address or a word of the message, whatever text the
        provider put in the error (``"DeliveryError retryable code=503"``).
        """
        code = self.code if self.code is not None and _CODE.fullmatch(self.code) else None
        kind = "retryable" if self.retryable else "permanent"
        return f"{type(self).__name__} {kind}" + (f" code={code}" if code else "")


class DatabaseUnavailable(ClinicCRMError):
    """The database could not serve the call: unreachable, restarting, locked for too long, or not migrated.

    Nothing of the call was written.  The message never contains SQL or parameters.

    Attributes:
        retryable: ``True`` when the same call may succeed later (a restart, a lock, a dropped connection);
            ``False`` when someone must act first (``crm.migrate()`` / ``clinic-crm migrate``).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
