"""The command table is the one source of the command methods, and the package's
layers import downwards only: the asyncio modules and the blocking ones never each
other, and nothing imports in a circle."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import beanstalkm
from beanstalkm import aio
from beanstalkm.command_methods import AsyncQueueCommands, PipelineCommands, QueueCommands
from beanstalkm.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "beanstalkm"


def test_generated_methods_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_methods.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("cls", [QueueCommands, AsyncQueueCommands, PipelineCommands])
def test_one_method_per_command_with_the_tables_parameters(cls: type) -> None:
    methods = {
        name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")
    }
    assert methods == set(COMMANDS)
    for name, command in COMMANDS.items():
        parameters = list(inspect.signature(getattr(cls, name)).parameters.values())[1:]
        assert [p.name for p in parameters] == [p.name for p in command.params], name
        for parameter, param in zip(parameters, command.params, strict=True):
            expected = inspect.Parameter.empty if param.required else param.default
            assert parameter.default == expected, (name, param.name)


def test_the_queues_and_pipelines_use_the_generated_methods() -> None:
    assert issubclass(beanstalkm.Queue, QueueCommands)
    assert issubclass(aio.Queue, AsyncQueueCommands)
    assert issubclass(beanstalkm.Pipeline, PipelineCommands)
    assert issubclass(aio.Pipeline, PipelineCommands)


def _imports(path: Path) -> set[str]:
    """The beanstalkm modules a module imports, as dotted names (inside functions too;
    not those imported only for type checking)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        module = module.rsplit(".", 1)[0]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            node.body = []  # names for annotations only: no dependency when running
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            if name.startswith("beanstalkm"):
                found.add(name)
                found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("beanstalkm"))
    return {name for name in found if _is_module(name)}


def _is_module(name: str) -> bool:
    parts = name.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


CLIENT_MODULES = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if not {"server", "cli", "web"} & set(p.relative_to(PACKAGE).parts)
    and p.name not in ("pytest_plugin.py", "testing.py", "demo.py", "__main__.py")
)


def test_asyncio_and_blocking_modules_do_not_import_each_other() -> None:
    blocking = {"beanstalkm.connection", "beanstalkm.client", "beanstalkm.worker.threaded"}
    for path in (PACKAGE / "aio").glob("*.py"):
        assert not _imports(path) & blocking, path.name
    for path in CLIENT_MODULES:
        if "aio" not in path.relative_to(PACKAGE).parts and path.name != "__init__.py":
            imported = {name for name in _imports(path) if name.startswith("beanstalkm.aio")}
            assert not imported, path.name


def test_the_web_console_uses_the_asyncio_client_only() -> None:
    blocking = {"beanstalkm.connection", "beanstalkm.client", "beanstalkm.worker.threaded"}
    for path in (PACKAGE / "web").glob("*.py"):
        assert not _imports(path) & blocking, path.name


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for path in CLIENT_MODULES:
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if path.name == "__init__.py":
            continue  # a package re-exports what is below it
        graph[name.removesuffix(".__init__")] = {
            m
            for m in _imports(path)
            if not (PACKAGE.joinpath(*m.split(".")[1:]) / "__init__.py").exists()
        }

    def visit(node: str, stack: list[str]) -> None:
        assert node not in stack, " -> ".join([*stack, node])
        for child in graph.get(node, ()):
            visit(child, [*stack, node])

    for node in graph:
        visit(node, [])


def test_no_module_getattr() -> None:
    """A module ``__getattr__`` can hide an import cycle; only the package's root has
    one, to import its classes on first use, from modules that import the modules they
    need, never the root (whose re-exports the cycle test leaves out)."""
    for path in CLIENT_MODULES:
        if path == PACKAGE / "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "__getattr__" not in names, path.relative_to(PACKAGE)


def test_import_beanstalkm_imports_the_rest_on_first_use() -> None:
    code = (
        "import sys, beanstalkm\n"
        "print(sorted(m for m in sys.modules if m.startswith(('beanstalkm', 'opentelemetry'))))\n"
        "assert beanstalkm.worker.Retry and beanstalkm.Worker and beanstalkm.Pool\n"
        "assert beanstalkm.Client.put and beanstalkm.replies.REQUEST_ID\n"
        "from beanstalkm import *\n"
        "assert Message and json_default\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['beanstalkm', 'beanstalkm.constants', 'beanstalkm.errors']\n"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        beanstalkm.nothing  # noqa: B018
