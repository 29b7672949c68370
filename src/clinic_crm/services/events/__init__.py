"""Community events: health talks, patient groups, free clinics and screenings, with seats and a waitlist.

* :mod:`.events` — create, update, cancel, close, invite, the ``.ics``
* :mod:`.registrations` — register (seats or waitlist, under the event's row lock), cancel with promotion, check in
* :mod:`.stats` — attendance (``EventStats``), one SQL statement
* :mod:`.calendar` — the iCalendar text and the snapshot event reminders carry
* :mod:`._rules` — input validation and the plan keys of event reminders
"""

__all__: list[str] = []
