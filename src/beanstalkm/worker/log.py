"""The workers' logger, ``beanstalkm.worker``: every part of a worker logs there."""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["logger"]

#: Both workers, their hooks, watches and processes log here.
logger: Final = logging.getLogger("beanstalkm.worker")
