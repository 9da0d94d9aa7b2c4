"""``python -m beanstalkm.server``: run the embedded server."""

from __future__ import annotations

from . import main

raise SystemExit(main())
