"""An MkDocs hook: the parts of reference pages that are generated from the code.

A page marks where each part goes with an HTML comment on a line of its own:

* ``<!-- corral:cli -->``: every ``corral`` command, from the argparse parser the
  CLI itself runs (:func:`corral.cli._parser`), with its usage, description and
  a table of its arguments. A new command or flag appears without a docs change.
* ``<!-- corral:options -->``: the table of job options, from
  :data:`corral.options.OPTIONS`: each ``Queue.add`` parameter, its key in Node
  BullMQ's ``opts``, its default and its ``corral add`` flag.
* ``<!-- corral:sync -->``: every class of :mod:`corral.sync` and each of its
  public names, linked to its async twin (whose entry has the signature and the
  docs, since the twin's are the same), from the classes themselves.

``tests/test_docs_site.py`` checks that every command, flag and option appears.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
from typing import Any

import corral
import corral.sync
from corral.cli import _parser
from corral.options import OPTIONS

CLI_MARKER = "<!-- corral:cli -->"
OPTIONS_MARKER = "<!-- corral:options -->"
SYNC_MARKER = "<!-- corral:sync -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill in the generated parts of a page (MkDocs calls this for every page)."""
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if OPTIONS_MARKER in markdown:
        markdown = markdown.replace(OPTIONS_MARKER, options_table())
    if SYNC_MARKER in markdown:
        markdown = markdown.replace(SYNC_MARKER, sync_reference())
    return markdown


def cli_reference() -> str:
    """The Markdown of every command of ``corral``."""
    parser = _parser()
    parts = [_usage_block(parser), _arguments_table(parser)]
    for name, command in _subcommands(parser):
        parts.append(f"## corral {name}\n")
        if command.description:
            parts.append(_escape(command.description) + "\n")
        elif help_text := _help_of(parser, name):
            parts.append(_escape(help_text[0].upper() + help_text[1:]) + ".\n")
        parts.append(_usage_block(command))
        parts.append(_arguments_table(command))
    return "\n".join(parts)


def options_table() -> str:
    """The Markdown table of the job options."""
    rows = [
        "| `Queue.add` parameter | Node BullMQ `opts` key | default | `corral add` flag |",
        "|---|---|---|---|",
    ]
    for option in OPTIONS:
        if option.cli is None:
            flag = "—"
        elif option.cli.parse is None:
            flag = f"`{option.flag}`"
        else:
            flag = f"`{option.flag} {option.cli.metavar}`"
        rows.append(f"| `{option.name}` | `{option.wire}` | `{option.default!r}` | {flag} |")
    return "\n".join(rows) + "\n"


# How each kind of twin behaves, by the name of the function corral.sync builds it with.
_SYNC_KINDS = {
    "blocking": "blocks until done",
    "run": "blocks until the worker stops",
    "factory": "blocks until done; takes a blocking Queue or Worker",
    "direct": "a plain call, in the caller's thread",
    "iterate": "a blocking iterator",
}


def sync_reference() -> str:
    """The Markdown of every class of ``corral.sync`` and the twin of each public name."""
    parts = []
    for class_name in corral.sync.__all__:
        cls = getattr(corral.sync, class_name)
        twin = getattr(corral, class_name)
        parts.append(
            f"::: corral.sync.{class_name}\n    options:\n      members: false\n"
            "      show_signature: false\n      show_bases: false\n"
        )
        rows = ["| name | how it runs | the same as |", "|---|---|---|"]
        for name, member in _sync_members(cls):
            anchor = "" if name.startswith("_") else f"[](){{#corral.sync.{class_name}.{name}}}"
            if hasattr(twin, name):
                kind = _sync_kind(member)
                same = f"[`{class_name}.{name}`][corral.{class_name}.{name}]"
            else:  # the facade's own (e.g. Job.async_job)
                kind = "own"
                same = _roles(_escape((inspect.getdoc(member) or "").split("\n")[0]))
            rows.append(f"| {anchor}`{name}` | {kind} | {same} |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def _sync_members(cls: type) -> list[tuple[str, Any]]:
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ != "corral.sync":
            continue
        for name, member in vars(klass).items():
            if (
                not name.startswith("_") or name in ("__iter__", "__enter__")
            ) and name != "_wrapped":
                found[name] = member
    return sorted(found.items())


def _sync_kind(member: Any) -> str:
    if isinstance(member, staticmethod):
        member = member.__func__
    code = getattr(member, "__code__", None)
    if code is None:
        return "reads through" if not isinstance(member, property) else "property"
    return _SYNC_KINDS.get(code.co_name, "blocks until done")


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def _usage_block(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps the usage to the page's width
    try:
        usage = parser.format_usage().strip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return f"```text\n{usage}\n```\n"


def _arguments_table(parser: argparse.ArgumentParser) -> str:
    rows = ["| argument | value | default | what |", "|---|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        rows.append(
            f"| {_names(action)} | {_value(action)} | {_default(action)} | "
            f"{_escape(action.help or '')} |"
        )
    return "\n".join(rows) + "\n" if len(rows) > 2 else ""


def _names(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    return ", ".join(f"`{flag}`" for flag in action.option_strings)


def _value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "switch"
    if action.choices:
        return " \\| ".join(f"`{choice}`" for choice in action.choices)
    if action.option_strings:
        metavar = action.metavar or action.dest.upper()
        return f"`{metavar}`" + (
            " (repeatable)" if isinstance(action, argparse._AppendAction) else ""
        )
    many = {"+": "one or more", "*": "any number", "?": "optional"}.get(str(action.nargs), "")
    return many


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
        return ""
    return f"`{action.default}`"


def _roles(text: str) -> str:
    """Sphinx roles (``:meth:`close```) as code, in text taken from a docstring."""
    return re.sub(r":\w+:`~?([\w.]+)`", r"`\1`", text)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")
