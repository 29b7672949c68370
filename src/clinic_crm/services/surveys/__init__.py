"""Use cases of surveys: questions and versions, invitations, responses, follow-ups, statistics.

Modules: ``questions`` (checking questions and answers), ``surveys`` (create and version),
``invitations`` (invite visits), ``responses`` (submit), ``follow_ups`` (closing the loop),
``stats``, ``frame`` and ``plot`` (metrics, the notebook frame, the chart), ``demo`` (demo data).
"""

__all__: list[str] = []  # nothing to import from here
