"""Use cases of reminders: scheduling, planning, dispatching, pausing and inbound replies.

* :mod:`.scheduling` — ``new_reminder`` (the one place a reminder row is born), ``schedule_reminder``, ``add_recall``
* :mod:`.planning` — ``plan_reminders`` (appointments, recalls, birthdays, greetings; idempotent)
* :mod:`.dispatch` — ``dispatch_due``, ``DispatchReport``, ``RetryPolicy``
* :mod:`.quiet` — quiet hours in a patient's zone, DST-correct
* :mod:`.pauses` — manual pause/resume and the pauses an incident owns
* :mod:`.replies` — ``handle_reply`` (opt-out keywords), ``list_replies``
* :mod:`.templates` — a clinic's own texts, yearly greetings
* :mod:`.listing` — ``list_reminders``, ``cancel_reminder``
"""

__all__: list[str] = []  # nothing to import from here
