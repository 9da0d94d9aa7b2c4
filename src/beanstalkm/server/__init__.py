"""An embedded, pure-Python beanstalkd: protocol 1.12, byte for byte, in memory.

Run it from the command line (``beanstalkm serve`` or ``python -m beanstalkm.server``,
with beanstalkd's ``-l``/``-p``/``-z`` flags), on a background thread::

    from beanstalkm.server import run_in_thread

    with run_in_thread() as (host, port):
        ...

or in your own event loop with :class:`Server`. See ``docs/server.md``.
"""

from __future__ import annotations

from .cli import main
from .listener import Server
from .state import DEFAULT_MAX_JOB_SIZE
from .stats import SERVER_VERSION
from .thread import ServerThread, run_in_thread

__all__ = [
    "DEFAULT_MAX_JOB_SIZE",
    "SERVER_VERSION",
    "Server",
    "ServerThread",
    "main",
    "run_in_thread",
]
