"""Use cases as plain functions ``(session, …) -> result``; they flush but never commit.

The caller — the :class:`clinic_crm.ClinicCRM` facade or a host application —
owns the transaction.
"""

__all__: list[str] = []  # nothing to import from here
