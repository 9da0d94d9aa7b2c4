"""beanstalkm: a beanstalkd client for Python."""

from .client import Client
from .connection import Connection, Queue
from .constants import (
    DEFAULT_DELAY,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_PRIORITY,
    DEFAULT_TTR,
    DEFAULT_TUBE,
    __version__,
)
from .errors import (
    BadFormat,
    BeanstalkmException,
    Buried,
    CommandFailed,
    DeadlineSoon,
    Draining,
    ExpectedCrlf,
    InternalError,
    InvalidArgument,
    InvalidMessage,
    JobTooBig,
    NotFound,
    NotIgnored,
    OutOfMemory,
    ReservationLost,
    SocketError,
    TimedOut,
    UnexpectedResponse,
    UnknownCommand,
)
from .message import Message
from .pipeline import Pipeline, PipelineError
from .worker import Worker

__all__ = [
    "DEFAULT_DELAY",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_PRIORITY",
    "DEFAULT_TTR",
    "DEFAULT_TUBE",
    "BadFormat",
    "BeanstalkmException",
    "Buried",
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
    "NotFound",
    "NotIgnored",
    "OutOfMemory",
    "Pipeline",
    "PipelineError",
    "Queue",
    "ReservationLost",
    "SocketError",
    "TimedOut",
    "UnexpectedResponse",
    "UnknownCommand",
    "Worker",
    "__version__",
]
