"""The asyncio client: the blocking client's API, every call awaitable.

::

    from beanstalkm import aio

    async with aio.Client("127.0.0.1", 11300, watch="emails") as client:
        await client.put({"to": "ada"}, tube="emails")
        async for message in client.messages(timeout=0):
            await handle(message.body)
            await message.delete()

It runs on the same sans-IO session (:class:`~beanstalkm.protocol.ClientProtocol`),
command table and operations as the blocking client: one parser, one set of checks.
The modules mirror the blocking ones: :mod:`beanstalkm.aio.connection`
(:mod:`beanstalkm.connection`), :mod:`beanstalkm.aio.client` (:mod:`beanstalkm.client`)
and :mod:`beanstalkm.aio.worker` (:mod:`beanstalkm.worker`).
"""

from __future__ import annotations

from .client import Client
from .connection import Connection, Message, Pipeline, Queue
from .pool import Pool
from .worker import Worker

__all__ = ["Client", "Connection", "Message", "Pipeline", "Pool", "Queue", "Worker"]
