"""The documentation site covers what exists: every public name, command, flag and option.

``mkdocs build --strict`` (run by scripts/test) catches broken links and
references; these tests catch what a build cannot see: a public name with no
reference entry, a generated table that lost a row, a migration table that names
something corral does not have.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

import corral
import corral.sync
from corral._engine.hooks import EVENTS
from corral.cli import _parser
from corral.options import OPTIONS

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_hooks_generated", DOCS / "hooks" / "generated.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _directives() -> set[str]:
    found: set[str] = set()
    for page in (DOCS / "reference").glob("*.md"):
        found.update(re.findall(r"^::: ([\w.]+)", page.read_text(), flags=re.MULTILINE))
    return found


def test_every_public_name_of_corral_has_a_reference_entry() -> None:
    documented = _directives()
    missing = [
        f"corral.{name}"
        for name in corral.__all__
        if name != "__version__" and f"corral.{name}" not in documented
    ]
    assert missing == [], f"add a `::: NAME` line to a page of docs/reference/ for {missing}"


def test_every_class_of_corral_sync_is_in_its_generated_reference() -> None:
    assert "<!-- corral:sync -->" in (DOCS / "reference" / "sync.md").read_text()
    page = _hook().sync_reference()
    for name in corral.sync.__all__:
        assert f"::: corral.sync.{name}" in page
        cls = getattr(corral.sync, name)
        for member in vars(cls):
            if not member.startswith("_"):
                assert f"#corral.sync.{name}.{member}}}" in page, f"corral.sync.{name}.{member}"


def test_the_cli_reference_has_every_command_and_flag() -> None:
    assert "<!-- corral:cli -->" in (DOCS / "reference" / "cli.md").read_text()
    page = _hook().cli_reference()
    parser = _parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        assert f"## corral {name}" in page
        section = page.split(f"## corral {name}\n", 1)[1].split("\n## corral ", 1)[0]
        for action in command._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in section, f"corral {name} {flag}"


def test_the_job_options_table_has_every_option_with_its_node_name() -> None:
    table = _hook().options_table()
    for option in OPTIONS:
        assert f"| `{option.name}` | `{option.wire}` |" in table
    pages = [DOCS / "reference" / "options.md", DOCS / "migrating" / "bullmq.md"]
    for page in pages:
        assert "<!-- corral:options -->" in page.read_text(), page


def _corral_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _resolve(name: str) -> None:
    """Fail unless ``name`` (``Queue.add``, ``Worker(concurrency=)``, ``QueueEvent.job_id``,
    ``RateLimitError``) is a real name of corral's public API."""
    keyword = re.fullmatch(r"(\w+)\((\w+)=\)", name)
    if keyword:
        target = getattr(corral, keyword.group(1))
        assert keyword.group(2) in inspect.signature(target).parameters, name
        return
    keywords = re.fullmatch(r"(\w+)\(([\w=, ]+)\)", name)
    if keywords:
        target = getattr(corral, keywords.group(1))
        for part in keywords.group(2).split(","):
            assert part.strip().rstrip("=") in inspect.signature(target).parameters, name
        return
    head, *rest = name.split(".")
    target = getattr(corral, head)
    for part in rest:
        target = getattr(target, part)


def test_the_bullmq_table_names_only_what_corral_has() -> None:
    text = (DOCS / "migrating" / "bullmq.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) > 60  # every Node name of Queue, Worker, Job, QueueEvents and errors
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) != 3 or cells[1] == "—":
            continue
        for name in _corral_names(cells[1]):
            _resolve(name)
        for event in re.findall(r'"(\w+)"', cells[0]):
            if "on(" in cells[1]:
                assert event in EVENTS or event in cells[2], event


def test_the_readme_points_to_the_docs_and_keeps_its_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert "(docs/index.md)" in readme
    assert "./scripts/demo" in readme
    assert "./scripts/test" in readme
