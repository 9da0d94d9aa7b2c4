#!/usr/bin/env python3
"""Write src/beanstalkm/command_methods.py from src/beanstalkm/api.json.

The command table is the one source of the command methods: this script turns each
command into a typed method with its signature, defaults and docstring, for the
blocking queue, the asyncio queue and pipelines. Run it after editing api.json;
``--check`` exits 1 when the file is not what the table gives (the test suite runs it).

Usage: python scripts/generate_methods.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "src" / "beanstalkm" / "api.json"
TARGET = ROOT / "src" / "beanstalkm" / "command_methods.py"

PARAM_TYPES = {
    "body": "bytes | bytearray | memoryview | str",
    "u32": "int",
    "id": "int",
    "timeout": "int",
    "tube": "str",
}
YAML_TYPES = {"server": "ServerStats", "tube": "TubeStats", "job": "JobStats", "list": "list[str]"}

HEADER = '''\
"""The command methods of queues and pipelines: one per command of ``api.json``.

Generated from ``api.json`` by ``scripts/generate_methods.py``; do not edit by hand
(a test fails when this file and the table disagree). Each method validates nothing
itself: it hands its command and arguments to the object it belongs to, whose
connection (or pipeline) encodes them, checking every argument before a byte is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .commands import COMMANDS, Command
from .constants import DEFAULT_DELAY, DEFAULT_PRIORITY, DEFAULT_TTR

if TYPE_CHECKING:
    from .stats import JobStats, ServerStats, TubeStats

__all__ = ["AsyncQueueCommands", "PipelineCommands", "QueueCommands"]

#: The message class a queue returns for job replies.
_M = TypeVar("_M")
_P = TypeVar("_P", bound="PipelineCommands")

'''

CALL = '''
    def __call__(self, name: str, *args: Any) -> Any:
        """Run a command by its method name: ``queue("reserve_with_timeout", 5)``."""
        if name not in COMMANDS:
            raise AttributeError(f"no beanstalkd command named {name!r}")
        return getattr(self, name)(*args)
'''

CLASSES = (
    (
        "QueueCommands(Generic[_M])",
        "The commands of a blocking queue: each runs one request and returns its result.",
        "_execute",
        "Callable[[Command, tuple[Any, ...]], Any]",
        "{}",
    ),
    (
        "AsyncQueueCommands(Generic[_M])",
        "The commands of an asyncio queue: each returns an awaitable of its result.",
        "_execute",
        "Callable[[Command, tuple[Any, ...]], Awaitable[Any]]",
        "Awaitable[{}]",
    ),
    (
        "PipelineCommands",
        "The commands of a pipeline: each records its request and returns the pipeline.",
        "_record",
        "Callable[[Command, tuple[Any, ...]], Any]",
        None,
    ),
)


def _constant(name: str) -> str:
    return "_" + name.upper()


def _default(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _returns(spec: dict[str, Any]) -> str:
    kinds: list[str] = []
    for kind in spec["ok"].values():
        text = {
            "none": "None",
            "int": "int",
            "str": "str",
            "job": "_M",
            "yaml": YAML_TYPES.get(spec.get("yaml", ""), "Any"),
        }[kind]
        if text not in kinds:
            kinds.append(text)
    if "None" in kinds and len(kinds) > 1:
        kinds.remove("None")
        kinds.append("None")
    return " | ".join(kinds)


def _exception(status: str) -> str:
    return "".join(word.capitalize() for word in status.split("_"))


def _docstring(spec: dict[str, Any]) -> list[str]:
    words = [spec["wire"]]
    body = False
    for name, kind, *_ in spec["params"]:
        if kind == "body":
            body = True
        else:
            words.append(f"<{name}>")
    if body:
        words.append("<bytes>")
    # Escaped: the docstring shows the CRLF, it does not contain one.
    wire = " ".join(words) + ("\\r\\n<body>" if body else "")
    sends = f"Sends ``{wire}``."
    if spec["errors"]:
        sends += " Raises " + ", ".join(_exception(status) for status in spec["errors"]) + "."
    return [spec.get("doc", ""), "", sends]


def _quote(lines: list[str]) -> str:
    indent = " " * 8
    text = []
    for i, line in enumerate(lines):
        first = indent + ('"""' if i == 0 else "")
        wrapped = textwrap.wrap(line, 100, initial_indent=first, subsequent_indent=indent)
        text.append("\n".join(wrapped) + "\n" if wrapped else "\n")
    return "".join(text) + indent + '"""\n'


def _method(name: str, spec: dict[str, Any], run: str, returns: str | None) -> str:
    params = ["self: _P" if returns is None else "self"]
    args = []
    for param_name, kind, *default in spec["params"]:
        text = f"{param_name}: {PARAM_TYPES[kind]}"
        if default:
            text += f" = {_default(default[0])}"
        params.append(text)
        args.append(param_name)
    result = "_P" if returns is None else returns.format(_returns(spec))
    signature = f"    def {name}({', '.join(params)}) -> {result}:"
    if len(signature) > 100:
        inner = "".join(f"        {p},\n" for p in params)
        signature = f"    def {name}(\n{inner}    ) -> {result}:"
    call_args = "(" + ", ".join(args) + ("," if len(args) == 1 else "") + ")"
    body = f"        return self.{run}({_constant(name)}, {call_args})"
    if returns is None or not returns.startswith("Awaitable"):
        body += "  # type: ignore[no-any-return]"
    body += "\n"
    return f"{signature}\n{_quote(_docstring(spec))}{body}"


def generate(table: dict[str, Any]) -> str:
    commands = {name: spec for name, spec in table.items() if not name.startswith("$")}
    out = [HEADER]
    for name in commands:
        out.append(f'{_constant(name)} = COMMANDS["{name}"]\n')
    for cls, doc, run, run_type, returns in CLASSES:
        out.append(f"\n\nclass {cls}:\n")
        out.append(f'    """{doc}"""\n\n')
        out.append("    __slots__ = ()\n")
        out.append(f"    {run}: {run_type}\n")
        if returns is not None:
            out.append(CALL)
        for name, spec in commands.items():
            out.append("\n" + _method(name, spec, run, returns))
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    options = parser.parse_args(argv)
    text = generate(json.loads(API.read_text(encoding="utf-8")))
    if options.check:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run scripts/generate_methods.py")
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
