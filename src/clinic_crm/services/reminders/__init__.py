"""Use cases of reminders: scheduling, planning, dispatching, pausing and inbound replies."""
