"""Hypothesis profiles of the property suite.

The suite runs a few derandomized examples per public call by default (CI). For a manual hunt::

    .venv/bin/python -m pytest tests/properties/test_public_calls.py --hypothesis-profile=properties-deep
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "properties-deep",
    max_examples=300,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
