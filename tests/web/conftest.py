"""Fixtures of the web console's tests: consoles served from a thread on a free
loopback port, against real beanstalkd servers, and a small HTTP client for them."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

if TYPE_CHECKING:
    from beanstalkm.web import Options

#: The reason the console's tests are skipped without the web extra.
NO_AIOHTTP = "the web extra (aiohttp) is not installed: pip install -e '.[web]'"


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def data(self) -> Any:
        return json.loads(self.body)


@dataclass
class Console:
    """A console served from a thread of its own until :meth:`stop`."""

    options: Options
    host: str = "127.0.0.1"
    url: str = ""
    csrf: str = ""
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: list[BaseException] = field(default_factory=list)

    def start(self) -> Console:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(20):
            raise AssertionError(f"the console did not start: {self._error}")
        if self._error:
            raise self._error[0]
        token = self.options.token
        auth = {"Authorization": f"Bearer {token}"} if token else None
        self.csrf = self.get("api/config", auth).data["csrf"]
        return self

    def _run(self) -> None:
        from beanstalkm.web import serve

        asyncio.set_event_loop(self._loop)

        def ready(url: str) -> None:
            self.url = url
            self._ready.set()

        self._task = self._loop.create_task(serve(self.options, self.host, 0, ready))
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self._error.append(exc)
            self._ready.set()
        finally:
            self._loop.close()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(20)

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, "/" + path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return Reply(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def get(self, where: str, headers: Mapping[str, str] | None = None, **params: Any) -> Reply:
        query = f"?{urlencode(params)}" if params else ""
        return self.request("GET", where + query, headers=headers)

    def post(
        self, path: str, data: Any, headers: Mapping[str, str] | None = None, csrf: bool = True
    ) -> Reply:
        sent = {"Content-Type": "application/json"}
        if csrf:
            sent["X-CSRF-Token"] = self.csrf
        sent.update(headers or {})
        return self.request("POST", path, json.dumps(data).encode(), sent)

    def act(self, path: str, data: Any) -> dict[str, Any]:
        """POST an action that must succeed; its report."""
        reply = self.post(path, data)
        assert reply.status == 200, reply.body
        report: dict[str, Any] = reply.data
        return report

    def frame_until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10) -> Any:
        """The first frame for which ``predicate`` holds (polled; fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        frame: Any = None
        while time.monotonic() < deadline:
            frame = self.get("api/frame").data
            if predicate(frame):
                return frame
            time.sleep(0.05)
        raise AssertionError(f"no frame came that fits; the last: {frame}")


ConsoleFactory = Callable[..., Console]


@pytest.fixture
def make_console() -> Iterator[ConsoleFactory]:
    """``make_console(addresses, **options)``: a started console, stopped at the end."""
    started: list[Console] = []

    def factory(
        addresses: list[tuple[str, int]], host: str = "127.0.0.1", **options: Any
    ) -> Console:
        from beanstalkm.web import Options

        options.setdefault("interval", 0.2)
        console = Console(Options(addresses, **options), host)
        started.append(console)
        return console.start()

    yield factory
    for console in started:
        console.stop()


@pytest.fixture
def console(server: BeanstalkdProcess, make_console: ConsoleFactory) -> Console:
    """A console of the test's beanstalkd."""
    return make_console([server.address])


@pytest.fixture
def beanstalk(server: BeanstalkdProcess) -> Iterator[Client]:
    """A blocking client of the test's beanstalkd, to set up and look from outside."""
    with Client(*server.address, timeout=5) as client:
        yield client


def put(client: Client, tube: str, *bodies: bytes, **kwargs: Any) -> list[int]:
    """Put raw jobs into ``tube``; their ids."""
    client.queue.use(tube)
    return [client.queue.put(body, **kwargs) for body in bodies]


def bury(client: Client, tube: str, *bodies: bytes) -> list[int]:
    """Put jobs into ``tube`` and bury them; their ids."""
    ids = put(client, tube, *bodies)
    for uid in ids:
        client.queue.reserve_job(uid).bury()
    return ids


def counts(client: Client, tube: str) -> dict[str, int]:
    """The ready, reserved, delayed and buried counts of ``tube`` (zeros when gone)."""
    try:
        stats = client.queue.stats_tube(tube)
    except Exception:
        return dict.fromkeys(("ready", "reserved", "delayed", "buried"), 0)
    return {s: int(stats[f"current-jobs-{s}"]) for s in ("ready", "reserved", "delayed", "buried")}  # type: ignore[literal-required]


def tube_row(frame: dict[str, Any], tube: str, server: int | None = None) -> dict[str, Any] | None:
    """A tube's numbers in a frame, by column name (totals, or one server's)."""
    from beanstalkm.web.sampler import TUBE_COLUMNS

    rows = frame["tubes"].get(tube)
    if rows is None:
        return None
    row = rows[0 if server is None else server + 1]
    return None if row is None else dict(zip(TUBE_COLUMNS, row, strict=True))
