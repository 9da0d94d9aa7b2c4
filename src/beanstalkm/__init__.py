"""beanstalkm: a beanstalkd client for Python."""

from typing import TYPE_CHECKING, Any, Final

from .constants import (
    DEFAULT_DELAY,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_PRIORITY,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TIMEOUT,
    DEFAULT_TTR,
    DEFAULT_TUBE,
    __version__,
)
from .errors import (
    BadFormat,
    BeanstalkmException,
    Buried,
    CannotConnect,
    CommandFailed,
    DeadlineSoon,
    Draining,
    ExpectedCrlf,
    InternalError,
    InvalidArgument,
    InvalidMessage,
    JobTooBig,
    NoReply,
    NotBeanstalkd,
    NotFound,
    NotIgnored,
    OutOfMemory,
    PipelineError,
    PoolError,
    RemoteError,
    ReservationLost,
    SocketError,
    TimedOut,
    UnexpectedResponse,
    UnknownCommand,
)

if TYPE_CHECKING:
    from .client import Client
    from .connection import Connection, Message, Pipeline, Queue
    from .envelope import json_default
    from .pool import Pool
    from .worker import Worker

__all__ = [
    "DEFAULT_DELAY",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_PRIORITY",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTR",
    "DEFAULT_TUBE",
    "BadFormat",
    "BeanstalkmException",
    "Buried",
    "CannotConnect",
    "Client",
    "CommandFailed",
    "Connection",
    "DeadlineSoon",
    "Draining",
    "ExpectedCrlf",
    "InternalError",
    "InvalidArgument",
    "InvalidMessage",
    "JobTooBig",
    "Message",
    "NoReply",
    "NotBeanstalkd",
    "NotFound",
    "NotIgnored",
    "OutOfMemory",
    "Pipeline",
    "PipelineError",
    "Pool",
    "PoolError",
    "Queue",
    "RemoteError",
    "ReservationLost",
    "SocketError",
    "TimedOut",
    "UnexpectedResponse",
    "UnknownCommand",
    "Worker",
    "__version__",
    "json_default",
]

# The classes are imported on first use, from the modules that have them: `import
# beanstalkm` itself costs only the constants and the errors, so that a process that
# serves (python -m beanstalkm.server), puts a job or two, or runs a worker imports
# what it uses and no more.
_LAZY: Final = {
    "Client": "client",
    "Connection": "connection",
    "Message": "connection",
    "Pipeline": "connection",
    "Queue": "connection",
    "json_default": "envelope",
    "Pool": "pool",
    "Worker": "worker",
}


def __getattr__(name: str) -> Any:
    """A name of ``__all__`` imported on first use; or a submodule, as in
    ``import beanstalkm`` then ``beanstalkm.worker.Retry``."""
    from importlib import import_module

    where = _LAZY.get(name)
    if where is not None:
        value = getattr(import_module(f"{__name__}.{where}"), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
