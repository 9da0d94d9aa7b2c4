"""An embedded, pure-Python beanstalkd: protocol 1.12, byte for byte.

Run it from the command line (``beanstalkm serve`` or ``python -m beanstalkm.server``,
with beanstalkd's flags: ``-l``, ``-p``, ``-z``, ``-b`` for a binlog...), on a
background thread::

    from beanstalkm.server import run_in_thread

    with run_in_thread() as (host, port):
        ...

or in your own asyncio event loop with :class:`Server`. See ``docs/server.md``.

Names are imported on first use, so that ``python -m beanstalkm.server`` loads only
what serving needs.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .binlog import BinlogError
    from .cli import main
    from .listener import Server
    from .state import DEFAULT_MAX_JOB_SIZE
    from .stats import SERVER_IDENTITY, SERVER_VERSION
    from .thread import ServerThread, run_in_thread

__all__ = [
    "DEFAULT_MAX_JOB_SIZE",
    "SERVER_IDENTITY",
    "SERVER_VERSION",
    "BinlogError",
    "Server",
    "ServerThread",
    "main",
    "run_in_thread",
]

_WHERE = {
    "BinlogError": "binlog",
    "DEFAULT_MAX_JOB_SIZE": "state",
    "SERVER_IDENTITY": "stats",
    "SERVER_VERSION": "stats",
    "Server": "listener",
    "ServerThread": "thread",
    "main": "cli",
    "run_in_thread": "thread",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
