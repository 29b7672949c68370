"""Every ``clinic-crm`` command shown in ``docs/`` and the README is one the walk-through runs (so the docs stay true).

A documented command matches a walk-through step when it names the same command and action (or report metric)
and every option it uses is used by that step.  Synopsis lines (``[--now ISO]``, ``a|b``) only need their commands.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from clinic_crm.cli import build_parser
from tests.cli.walkthrough import STEPS, Step

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
INLINE = re.compile(r"`(clinic-crm [^`]+)`")
PLACEHOLDERS = {"URL", "ID", "NAME", "ISO", "N", "FILE", "DATE", "KEEP", "MERGE", "TEXT", "COMMAND", "…"}
#: Named in prose as what a command is *not* called (feedback.md: "the issue called it `clinic-crm report sla`").
NOT_COMMANDS = {"report sla"}
ALWAYS = {"-v", "-vv", "--verbose", "--help", "-h"}  # the walk-through runs every step at -vv, --help for all


def _actions() -> dict[str, set[str]]:
    """Each command's actions (or, for ``report``, its metrics); empty for commands without any."""
    found: dict[str, set[str]] = {}
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                subs: set[str] = set()
                for inner in child._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        subs |= set(inner.choices)
                    elif not inner.option_strings and inner.choices:
                        subs |= {str(c) for c in inner.choices}
                found[name] = subs
    return found


ACTIONS = _actions()


def _key(tokens: list[str]) -> tuple[str, ...]:
    command = tokens[0]
    if ACTIONS.get(command) and len(tokens) > 1:
        return (command, tokens[1])
    return (command,)


def _documented() -> list[tuple[str, str]]:
    """``(page, command line without clinic-crm)`` for every documented command."""
    found: list[tuple[str, str]] = []
    for page in PAGES:
        source = page.read_text(encoding="utf-8")
        blocks = [body.replace("\\\n", " ") for lang, body in FENCE.findall(source) if lang != "python"]
        lines = [line for body in blocks for line in body.splitlines()]
        lines += INLINE.findall(FENCE.sub("", source).replace("\n", " "))
        for line in lines:
            at = line.find("clinic-crm ")
            if at < 0:
                continue
            command = re.split(r"\s(?:\|\||\||&&|;)\s", line[at + len("clinic-crm ") :])[0].strip()
            first = command.split(" ", 1)[0]
            if first.split("|")[0] not in ACTIONS or command in NOT_COMMANDS:
                continue  # prose ("the clinic-crm CLI"), or COMMAND --help
            found.append((page.name, command))
    return found


def _expand(tokens: list[str]) -> tuple[list[tuple[str, ...]], set[str] | None]:
    """The command keys a documented line names, and its options (``None`` for a synopsis)."""
    synopsis = any(t in PLACEHOLDERS or "[" in t or "|" in t or "…" in t for t in tokens)
    words = [t.strip("[]") for t in tokens]
    heads = [w.split("|") for w in words[:2]]
    keys = sorted({_key([c, *([a] if len(heads) > 1 else [])]) for c in heads[0] for a in (heads[1:] or [[""]])[0]})
    options = None if synopsis else {t.split("=")[0] for t in tokens if t.startswith("-")} - ALWAYS
    return keys, options


def _walked() -> dict[tuple[str, ...], list[set[str]]]:
    walked: dict[tuple[str, ...], list[set[str]]] = {}
    for step in STEPS:
        if isinstance(step, Step):
            argv = step.argv(db="x", tmp="x", gateway="x")
            if argv[0].startswith("-"):
                continue
            used = {t for t in argv if t.startswith("-")}
            walked.setdefault(_key(argv), []).append(used)
            walked.setdefault(_key(argv[:1]), []).append(used)
    return walked


DOCUMENTED = _documented()


def test_the_docs_show_commands() -> None:
    pages = {page for page, _ in DOCUMENTED}
    assert {"getting-started.md", "cli.md", "README.md"} <= pages, pages


@pytest.mark.parametrize(("page", "line"), DOCUMENTED, ids=[f"{p}:{line[:40]}" for p, line in DOCUMENTED])
def test_documented_command_is_walked(page: str, line: str) -> None:
    walked = _walked()
    keys, options = _expand(shlex.split(line, comments=True))
    for key in keys:
        assert key in walked, f"{page}: `clinic-crm {line}` names {key}, which the walk-through never runs"
        if options is not None:
            assert any(options <= used for used in walked[key]), (
                f"{page}: `clinic-crm {line}` uses {sorted(options)}; no walk-through step of {key} uses them all"
            )


def test_a_command_the_walk_never_runs_is_caught() -> None:
    """The check can fail: an option no step uses, a command no step runs."""
    walked = _walked()
    keys, options = _expand(shlex.split("reminders dispatch --sender smtp --no-such-option"))
    assert options is not None and not any(options <= used for used in walked[keys[0]])
    assert _expand(shlex.split("nosuch thing"))[0][0] not in walked
