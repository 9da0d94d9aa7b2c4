"""``beanstalkm web``: a live web console for beanstalkd servers.

Needs the ``web`` extra (``pip install 'beanstalkm[web]'``, which brings aiohttp).
The console reads its servers through the asyncio client, one client per server
(:mod:`.servers`), samples them every interval (:mod:`.sampler`), and serves pages
that follow the samples live and act on tubes and jobs (:mod:`.app`,
:mod:`.actions`). See ``docs/web.md``.

::

    import asyncio
    from beanstalkm.web import Options, serve

    asyncio.run(serve(Options([("127.0.0.1", 11300)]), "127.0.0.1", 8080))
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from .app import Console, create_app
from .sampler import Sampler
from .security import Guard, is_loopback
from .servers import Servers

__all__ = ["Options", "create_app", "is_loopback", "serve"]

#: Seconds an open request is given to finish when the console stops.
SHUTDOWN_GRACE = 2.0


@dataclass
class Options:
    """What to serve, and how.

    :param addresses: the servers, ``(host, port)`` each, in the order shown.
    :param read_only: offer no action, and refuse every POST.
    :param token: needed by every request when set (see :mod:`.security`).
    :param interval: seconds between samples of the servers.
    :param window: seconds of samples kept for the charts.
    :param timeout: seconds to wait for a server to connect and to answer.
    """

    addresses: Sequence[tuple[str, int]]
    read_only: bool = False
    token: str | None = None
    interval: float = 1.0
    window: float = 300.0
    timeout: float = 3.0

    def console(self, loopback_only: bool) -> Console:
        """The console these options describe (its clients connect when used)."""
        servers = Servers(self.addresses, self.timeout)
        guard = Guard(loopback_only=loopback_only, token=self.token, read_only=self.read_only)
        return Console(servers, Sampler(servers, self.interval, self.window), guard)


async def serve(
    options: Options,
    host: str = "127.0.0.1",
    port: int = 8080,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the console on ``host:port`` until cancelled.

    ``ready`` is called with the console's address (``http://host:port/``, the port
    the system chose when ``port`` is 0) once it accepts connections. Raises OSError
    when the address cannot be listened on.
    """
    app = create_app(options.console(loopback_only=is_loopback(host)))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if ready is not None:
            bound_host, bound_port = runner.addresses[0][:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            ready(f"http://{shown}:{bound_port}/")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
