"""Use cases of surveys: questions and versions, invitations, responses, follow-ups, statistics.

Modules: ``questions`` (checking questions and answers), ``surveys`` (create and version),
``invitations`` (invite visits), ``responses`` (submit), ``follow_ups`` (closing the loop),
``stats`` and ``frame`` (metrics and the notebook frame), ``demo`` (demo data).
"""
