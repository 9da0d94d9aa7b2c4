"""Defaults and protocol limits shared by every part of beanstalkm."""

from __future__ import annotations

__version__ = "2.0.0"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11300
#: The tube :meth:`Client.put` puts into and the tutorial reserves from.
DEFAULT_TUBE = "receive"
DEFAULT_PRIORITY = 2**31
DEFAULT_DELAY = 0
DEFAULT_TTR = 120
#: Seconds a connection waits to connect and for each reply, unless told otherwise
#: (and unless ``socket.setdefaulttimeout`` set another): a peer that never answers
#: cannot hang a call. A waiting reserve gets its own wait on top.
DEFAULT_TIMEOUT = 10.0
#: Seconds :meth:`Client.request` waits for its reply, unless told otherwise.
DEFAULT_REQUEST_TIMEOUT = 30.0

#: beanstalkd's own default tube: used and watched by every new connection.
SERVER_DEFAULT_TUBE = "default"

MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1
#: beanstalkd after 1.12 rejects reserve timeouts above INT_MAX.
MAX_RESERVE_TIMEOUT = 2**31 - 1
MAX_TUBE_NAME_BYTES = 200
#: Longest request line beanstalkd accepts, CRLF included.
MAX_LINE_BYTES = 224
#: beanstalkd's hard ceiling on ``-z``; no reply body can be longer.
MAX_JOB_SIZE_LIMIT = 1024**3
