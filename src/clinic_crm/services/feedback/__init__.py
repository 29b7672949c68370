"""Use cases of feedback and complaints (``crm.feedback``).

* :mod:`.rules` — the pure rules: choices, policy targets, deadlines, the status machine, "breached"
* :mod:`.policies` — each clinic's deadline policy per (kind, priority), with the contract's defaults
* :mod:`.cases` — record, acknowledge (optionally telling the patient), resolve, reopen, assign, get, history, list
* :mod:`.sla` — ``sla()``: on-time and breach counts as one SQL aggregate
"""

__all__: list[str] = []  # nothing to import from here
