"""The low-level command layer (``connection.queue``), generated from the command table.

Each command in ``api.json`` becomes a method with a real signature, e.g.
``put(body, priority=2147483648, delay=0, ttr=120)``, whose body is one call into the
connection. The same generator serves the sync and the asyncio connection: adding a
command to ``api.json`` adds a method to both.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from typing import Any

from .commands import COMMANDS, Command

__all__ = ["BaseQueue", "install_commands"]


def _method(command: Command) -> Callable[..., Any]:
    names = [p.name for p in command.params]
    for name in names:
        if not name.isidentifier() or keyword.iskeyword(name) or name in ("self", "_command"):
            raise ValueError(f"api.json: {command.name}: bad parameter name {name!r}")
    signature = ", ".join(
        [
            "self",
            *(
                n if p.required else f"{n}=_default_{n}"
                for n, p in zip(names, command.params, strict=True)
            ),
        ]
    )
    args = "".join(f"{n}, " for n in names)
    source = f"def {command.name}({signature}):\n    return self._run(_command, ({args}))\n"
    namespace: dict[str, Any] = {"_command": command}
    namespace.update({f"_default_{p.name}": p.default for p in command.params if not p.required})
    # Built from source (as dataclasses and namedtuple do) so that each method has a
    # real signature, defaults and help(), and costs one call at run time.
    exec(source, namespace)
    method: Callable[..., Any] = namespace[command.name]
    method.__doc__ = command.doc
    method.__qualname__ = command.name
    return method


def install_commands(cls: type, commands: Mapping[str, Command] = COMMANDS) -> type:
    """Give ``cls`` one method per command; instances need a ``_run(command, args)``."""
    for name, command in commands.items():
        method = _method(command)
        method.__module__ = cls.__module__
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
    return cls


class BaseQueue:
    """A connection's command methods; subclasses get them from :func:`install_commands`."""

    __slots__ = ("_connection", "_run")

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._run = connection._execute

    def __call__(self, name: str, *args: Any) -> Any:
        """Run a command by its method name: ``queue("reserve_with_timeout", 5)``."""
        if name not in COMMANDS:
            raise AttributeError(f"no beanstalkd command named {name!r}")
        return getattr(self, name)(*args)
