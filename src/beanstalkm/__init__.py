"""beanstalkm: a beanstalkd client for Python."""

from typing import TYPE_CHECKING, Any

from .client import Client
from .connection import Connection, Message, Pipeline, Queue
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
from .envelope import json_default
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
    from . import pool as pool
    from . import servers as servers
    from . import worker as worker
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

# What a producer never needs is imported on first use: `import beanstalkm` stays
# quick for a short-lived process that only puts. `beanstalkm.worker.Retry` works as
# well, as it did when these were imported here.
_LAZY = {"Pool": "pool", "Worker": "worker", "pool": None, "servers": None, "worker": None}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'beanstalkm' has no attribute {name!r}")
    from importlib import import_module

    module = import_module(f"{__name__}.{_LAZY[name] or name}")
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
