"""Crisis readiness services: :mod:`.risks` (the register), :mod:`.plan` (team, contacts, playbooks, approvers,
readiness), :mod:`.incidents` (declare, log, close, clocks), :mod:`.statements` (draft, approve, publish, notify);
the pure rules are in :mod:`.rules`."""

__all__: list[str] = []
