"""A static reading of the Lua scripts: where a script builds a key name from
what its caller handed it.

Redis Cluster's contract is that a script names, in ``KEYS``, every key it
touches. A key name made in a script by joining the queue's base key (``base``,
or ``ARGV[1]`` / ``KEYS[1]`` where the header says it is the base) with a value
from ``ARGV`` was known before the call, so it belongs in ``KEYS``.
:func:`key_building` finds such joins:

* a ``..`` chain that holds the base and an ``ARGV`` value (or a local assigned
  from one, directly or through other locals);
* a call to an include's function that joins its ``base`` parameter with another
  parameter (:func:`key_building_functions`), given the base and such a value.

A key joined from the base and a value the script read from Redis (a job id
popped from a list, a parent named in a job's hash) is not reported: it cannot be
known before the call. The reading is by name and regular expressions, not a Lua
parser; it is written for corral's scripts and tested on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_LUA = resources.files("corral.backends.redis").joinpath("lua")
_OPERAND = r"""(?:[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?|"[^"\n]*"|'[^'\n]*')"""
_CHAIN = re.compile(rf"{_OPERAND}(?:\s*\.\.\s*{_OPERAND})+")
_ASSIGN = re.compile(r"^\s*(?:local\s+)?([A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_]\w*)*)\s*=(?!=)\s*(.+)$")
_FOR_IN_ARGV = re.compile(r"^\s*for\s+\w+\s*,\s*(\w+)\s+in\s+ipairs\(ARGV\)")
_FUNCTION = re.compile(r"^local function (\w+)\(([^)]*)\)", re.MULTILINE)
_CALL = re.compile(r"\b(\w+)\(")


@dataclass(frozen=True)
class Finding:
    """One place a script builds a key from what its caller handed it."""

    script: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"lua/{self.script}.lua:{self.line}: {self.text}"


def _strip_comments(source: str) -> str:
    """``source`` with Lua comments blanked (line numbers kept)."""
    source = re.sub(r"--\[\[.*?\]\]", lambda m: "\n" * m.group(0).count("\n"), source, flags=re.S)
    return re.sub(r"--[^\n]*", "", source)


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and strings."""
    parts, depth, current, quote = [], 0, [], ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _call_args(text: str, start: int) -> str:
    """The argument text of the call whose ``(`` is at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return text[start + 1 :]


def _mentions(expr: str, names: set[str]) -> bool:
    return any(re.search(rf"(?<![\w.]){re.escape(n)}(?![\w\[])", expr) for n in names)


def _header(source: str) -> str:
    return source[: source.find("]]")] if source.startswith("--[[") else ""


def _base_operands(source: str) -> set[str]:
    header = _header(source)
    found = {"base"}
    if re.search(r"^\s*ARGV\[1\]\s+base key", header, re.M):
        found.add("ARGV[1]")
    if re.search(r"^\s*KEYS\[1\]\s+base\b", header, re.M):
        found.add("KEYS[1]")
    return found


def _handed(code: str, bases: set[str]) -> set[str]:
    """Names holding a value from ARGV (or one made from such a value), bases excluded."""
    tainted: set[str] = set()
    changed = True
    while changed:
        changed = False
        for line in code.splitlines():
            loop = _FOR_IN_ARGV.match(line)
            if loop and loop.group(1) not in tainted:
                tainted.add(loop.group(1))
                changed = True
            match = _ASSIGN.match(line)
            if not match:
                continue
            names = [n.strip() for n in match.group(1).split(",")]
            values = _split_top(match.group(2))
            if len(values) != len(names):
                values = [match.group(2)] * len(names)
            for name, value in zip(names, values, strict=True):
                if name in bases or name in tainted:
                    continue
                if re.search(r"\bARGV\[", value) or _mentions(value, tainted):
                    tainted.add(name)
                    changed = True
    return tainted


def _is_handed(operand: str, tainted: set[str], bases: set[str]) -> bool:
    if operand in bases:
        return False
    return operand.startswith("ARGV[") or operand in tainted


def _function_bodies(source: str) -> dict[str, tuple[list[str], str]]:
    code = _strip_comments(source)
    starts = list(_FUNCTION.finditer(code))
    bodies = {}
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(code)
        params = [p.strip() for p in match.group(2).split(",") if p.strip()]
        bodies[match.group(1)] = (params, code[match.end() : end])
    return bodies


def key_building_functions() -> dict[str, set[int]]:
    """Include functions that join their ``base`` parameter with another one:
    name -> the 0-based positions of the parameters joined to the base."""
    bodies: dict[str, tuple[list[str], str]] = {}
    for path in _LUA.joinpath("includes").iterdir():
        if path.name.endswith(".lua"):
            bodies.update(_function_bodies(path.read_text(encoding="utf-8")))
    building: dict[str, set[int]] = {}
    changed = True
    while changed:
        changed = False
        for name, (params, body) in bodies.items():
            if "base" not in params:
                continue
            positions = set(building.get(name, set()))
            for chain in _CHAIN.finditer(body):
                operands = [o.strip() for o in chain.group(0).split("..")]
                if "base" in operands:
                    positions |= {params.index(o) for o in operands if o in params and o != "base"}
            for call in _CALL.finditer(body):
                callee = call.group(1)
                if callee not in building or callee == name:
                    continue
                args = _split_top(_call_args(body, call.end() - 1))
                for position in building[callee]:
                    if position < len(args) and args[position] in params:
                        positions.add(params.index(args[position]))
            if positions != building.get(name, set()):
                building[name] = positions
                changed = True
    return {name: positions for name, positions in building.items() if positions}


def key_building(name: str, source: str | None = None) -> list[Finding]:
    """Where ``lua/<name>.lua`` (its own text, not its includes; or ``source``)
    joins its base key with a value from ARGV."""
    if source is None:
        source = _LUA.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    code = _strip_comments(source)
    bases = _base_operands(source)
    tainted = _handed(code, bases)
    functions = key_building_functions()
    findings = []
    for number, line in enumerate(code.splitlines(), start=1):
        for chain in _CHAIN.finditer(line):
            operands = [o.strip() for o in chain.group(0).split("..")]
            if any(o in bases for o in operands) and any(
                _is_handed(o, tainted, bases) for o in operands
            ):
                findings.append(Finding(name, number, chain.group(0)))
        for call in _CALL.finditer(line):
            positions = functions.get(call.group(1))
            if not positions:
                continue
            args = _split_top(_call_args(line, call.end() - 1))
            if not any(a in bases for a in args):
                continue
            for position in positions:
                if position < len(args) and (
                    re.search(r"\bARGV\[", args[position]) or _mentions(args[position], tainted)
                ):
                    findings.append(Finding(name, number, f"{call.group(1)}({', '.join(args)})"))
    return findings
