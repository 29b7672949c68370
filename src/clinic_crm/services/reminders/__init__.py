"""Use cases of reminders: scheduling, planning, dispatching, pausing and inbound replies.

* :mod:`.rows` — ``reminder_values`` (the one builder of a reminder row's columns), ``insert_rows``, ``insert_select``
* :mod:`.scheduling` — ``new_reminder`` (one checked reminder), ``schedule_reminder``, ``add_recall``
* :mod:`.planning` — ``plan_reminders`` (appointments, birthdays, greetings set-based; idempotent)
* :mod:`.recalls` — recalls of ``plan_reminders``, streamed in batches of care plans
* :mod:`.dispatch` — ``dispatch_due``, ``DispatchReport``, ``RetryPolicy``
* :mod:`.quiet` — quiet hours in a patient's zone, DST-correct
* :mod:`.pauses` — manual pause/resume and the pauses an incident owns
* :mod:`.replies` — ``handle_reply`` (opt-out keywords), ``list_replies``
* :mod:`.templates` — a clinic's own texts, yearly greetings
* :mod:`.listing` — ``list_reminders``, ``cancel_reminder``
"""

__all__: list[str] = []  # nothing to import from here
