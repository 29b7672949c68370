"""Use cases of reminders: scheduling, planning, dispatching, pausing and inbound replies.

* :mod:`.scheduling` — ``new_reminder`` (the one place a reminder row is born), ``schedule_reminder``, ``add_recall``
* :mod:`.planning` — ``plan_reminders`` (appointments, recalls, birthdays, greetings; idempotent)
* :mod:`.dispatch` — ``dispatch_due``, ``DispatchReport``, ``RetryPolicy``
* :mod:`.quiet` — quiet hours in a patient's zone, DST-correct
* :mod:`.control` — pause/resume, ``handle_reply``, templates, greetings, listing
* :mod:`.demo` — ``seed_demo_reminders`` for ``clinic-crm demo``
"""
