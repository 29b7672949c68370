"""The public surface (no database): exact public names, ``__all__`` everywhere, one layer per public call."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest
from sqlalchemy.orm import sessionmaker

import clinic_crm
import clinic_crm.api
from clinic_crm.api._unit import ServiceGroup, UnitOfWork, overloaded_service, service
from clinic_crm.services.surveys import stats
from clinic_crm.services.surveys.stats import MetricCall

SRC = Path(clinic_crm.__file__).resolve().parent

#: What ``from clinic_crm import …`` offers: the contract's names plus those added on purpose (last line).
PUBLIC_NAMES = {
    "ClinicCRM",
    *("ClinicCRMError", "ValidationError", "InvalidPhoneNumber", "InvalidEmail", "NaiveDatetimeError"),
    *("InvalidAnswer", "NotFound", "UnknownToken", "Conflict", "DuplicatePatient", "InvalidTransition"),
    *("TokenExpired", "TokenUsed", "NotApproved", "DeliveryError", "DatabaseUnavailable"),
    *("OutboundMessage", "Sender", "PublicPost", "Publisher", "Question"),
    *("Clinic", "Patient", "ConsentEvent", "Visit", "Reminder", "CarePlan", "Survey", "Invitation", "Response"),
    *("FollowUp", "ImportReport", "RowError", "DispatchReport", "NpsResult", "CsatResult", "ResponseRate"),
    *("Case", "CaseEvent", "CasePolicy", "SlaResult"),
    *("Mention", "Alert", "IngestReport", "ReputationSummary", "ReviewSource"),
    *("Risk", "TeamMember", "Contact", "Playbook", "Readiness", "Check", "Incident", "TimelineEntry", "Statement"),
    *("Post", "PublishReport", "Event", "Registration", "EventStats", "DuplicatePair", "AuditEvent"),
    *("RetryPolicy", "PatientFields", "ClinicSettings"),
}

#: Facade calls written by hand: they own their commits, so they run on the session factory, not one unit of work.
HAND_WRITTEN = {("RemindersAPI", "dispatch"), ("PostsAPI", "publish_due")}


def test_the_package_exports_exactly_the_intended_public_names() -> None:
    assert len(clinic_crm.__all__) == len(set(clinic_crm.__all__)), "a name is listed twice"
    assert set(clinic_crm.__all__) == PUBLIC_NAMES
    for name in clinic_crm.__all__:
        assert getattr(clinic_crm, name) is not None


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "versions" not in p.relative_to(SRC).parts)


def _top_level_names(tree: ast.Module) -> tuple[set[str], list[str] | None]:
    """The names a module binds at top level (imports included), and its ``__all__`` if it declares one."""
    names: set[str] = set()
    declared: list[str] | None = None
    nodes: list[ast.stmt] = list(tree.body)
    while nodes:
        node = nodes.pop(0)
        if isinstance(node, ast.If | ast.Try):  # TYPE_CHECKING blocks, optional imports
            nodes[:0] = [*node.body, *getattr(node, "orelse", []), *getattr(node, "finalbody", [])]
            for handler in getattr(node, "handlers", []):
                nodes[:0] = handler.body
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))  # a, b = 1, 2 too
                if isinstance(target, ast.Name) and target.id == "__all__" and node.value is not None:
                    declared = list(ast.literal_eval(node.value))
    return names, declared


def test_every_module_declares_all_and_every_name_in_it_exists() -> None:
    assert len(_modules()) > 100
    missing: list[str] = []
    for path in _modules():
        names, declared = _top_level_names(ast.parse(path.read_text(encoding="utf-8")))
        if declared is None:
            missing.append(str(path.relative_to(SRC)))
            continue
        assert set(declared) <= names, f"{path.relative_to(SRC)}: __all__ names {set(declared) - names}"
    assert missing == []


def _groups() -> list[type[ServiceGroup]]:
    groups: dict[str, type[ServiceGroup]] = {}
    for info in pkgutil.iter_modules(clinic_crm.api.__path__):
        module = importlib.import_module(f"clinic_crm.api.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ServiceGroup) and value is not ServiceGroup:
                groups[value.__name__] = value
    return sorted(groups.values(), key=lambda g: g.__name__)


def _calls() -> list[tuple[type[ServiceGroup], str, Any]]:
    return [(g, name, value) for g in _groups() for name, value in vars(g).items() if not name.startswith("_")]


def test_every_facade_group_is_a_service_group() -> None:
    from clinic_crm import ClinicCRM

    crm = ClinicCRM("sqlite://")
    try:
        found = {type(v) for v in vars(crm).values() if isinstance(v, ServiceGroup)}
    finally:
        crm.close()
    assert found == set(_groups()) and len(found) == 13


def test_every_public_call_binds_one_service_function_with_its_docstring() -> None:
    written = set()
    for group, name, value in _calls():
        where = f"{group.__name__}.{name}"
        if (group.__name__, name) in HAND_WRITTEN:
            written.add((group.__name__, name))
            assert inspect.getdoc(value), f"{where} has no docstring"
            continue
        assert isinstance(value, service | overloaded_service), f"{where} is written by hand, not bound"
        fn = value.fn if isinstance(value, service) else value.service.fn
        assert fn.__module__.startswith("clinic_crm.services."), where
        assert fn.__doc__ and value.__doc__ is fn.__doc__, f"{where}: one docstring, the service function's"
    assert written == HAND_WRITTEN


def test_a_bound_call_has_the_service_signature_without_the_session() -> None:
    unit = UnitOfWork(sessionmaker())  # never called: no database
    checked = 0
    for group, name, value in _calls():
        if not isinstance(value, service | overloaded_service):
            continue
        fn = value.fn if isinstance(value, service) else value.service.fn
        bound = getattr(group(unit), name)
        expected = list(inspect.signature(fn).parameters.values())[1:]
        assert list(inspect.signature(bound).parameters.values()) == expected, f"{group.__name__}.{name}"
        assert bound.__doc__ == fn.__doc__ and bound.__wrapped__ is fn  # "go to definition" finds the service
        checked += 1
    assert checked > 100


def test_api_modules_hold_no_function_bodies_but_those_that_own_their_commits() -> None:
    for path in sorted((SRC / "api").glob("*.py")):
        if path.name == "_unit.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        assert (node.name, item.name) in HAND_WRITTEN, f"{path.name}: {node.name}.{item.name}"


@pytest.mark.parametrize(
    ("fn", "result"),
    [(stats.nps, stats.NpsResult), (stats.csat, stats.CsatResult), (stats.response_rate, stats.ResponseRate)],
)
def test_the_metric_overloads_take_exactly_the_service_functions_parameters(fn: Any, result: type) -> None:
    """``MetricCall`` states the metrics' overloads once; they cannot drift from the service functions."""
    source = ast.parse(inspect.getsource(MetricCall))
    overloads = [node for node in ast.walk(source) if isinstance(node, ast.FunctionDef) and node.name == "__call__"]
    assert len(overloads) == 2 and all("overload" in ast.unparse(o.decorator_list[0]) for o in overloads)
    expected = list(inspect.signature(fn).parameters.values())[1:]  # without the session
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in expected)
    annotation = {p.name: str(p.annotation) for p in expected}
    for overload in overloads:
        assert overload.args.args[0].arg == "self" and len(overload.args.args) == 1
        params = overload.args.kwonlyargs
        assert [a.arg for a in params] == [p.name for p in expected]
        defaults = [None if d is None else ast.literal_eval(d) for d in overload.args.kw_defaults]
        required = [a.arg for a, d in zip(params, overload.args.kw_defaults, strict=True) if d is None]
        assert required in ([], ["by"])  # the second overload makes ``by`` a required str
        for a, default, p in zip(params, defaults, expected, strict=True):
            if a.arg != "by":
                assert (default, ast.unparse(a.annotation) if a.annotation else None) == (p.default, annotation[p.name])
    assert result in get_args(get_type_hints(fn)["return"])
    bound = next(v for g, name, v in _calls() if g.__name__ == "SurveysAPI" and name == fn.__name__)
    assert isinstance(bound, overloaded_service) and bound.service.fn is fn
    (call_type,) = get_args(bound.__orig_class__)  # type: ignore[attr-defined]
    assert get_args(call_type) == (result,)
