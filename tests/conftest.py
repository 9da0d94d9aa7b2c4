"""Fixtures: a fresh real beanstalkd per test, and clients of both kinds on it.

The functional tests take ``make_client``/``make_connection`` (or ``client``,
``connection``, ``other``) and run twice: with the blocking client, and with the
asyncio client behind a blocking facade (see facade.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import beanstalkm
from beanstalkm import aio
from beanstalkm.testing import BeanstalkdProcess

from .facade import Facade

MakeClient = Callable[..., beanstalkm.Client]
MakeConnection = Callable[..., beanstalkm.Connection]


@pytest.fixture
def server() -> Iterator[BeanstalkdProcess]:
    """A real beanstalkd of its own for the test (restartable)."""
    process = BeanstalkdProcess()
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def small_server() -> Iterator[BeanstalkdProcess]:
    """A real beanstalkd whose max job size is 1024 bytes."""
    process = BeanstalkdProcess(["-z", "1024"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(params=["sync", "asyncio"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which client the test runs with."""
    return str(request.param)


@pytest.fixture
def make(kind: str) -> Iterator[Callable[..., Any]]:
    """``make(cls_name, *args, **kwargs)``: a client object of the test's kind."""
    loop = asyncio.new_event_loop() if kind == "asyncio" else None
    made: list[Any] = []

    def factory(name: str, *args: Any, **kwargs: Any) -> Any:
        if loop is None:
            obj: Any = getattr(beanstalkm, name)(*args, **kwargs)
        else:
            obj = Facade(getattr(aio, name)(*args, **kwargs), loop)
        made.append(obj)
        return obj

    try:
        yield factory
    finally:
        for obj in made:
            obj.close()
        if loop is not None:
            loop.close()


@pytest.fixture
def make_client(make: Callable[..., Any], server: BeanstalkdProcess) -> MakeClient:
    """A Client of the test's kind; the test server unless another address is given."""

    def factory(*args: Any, **kwargs: Any) -> beanstalkm.Client:
        kwargs.setdefault("timeout", 5)
        client: beanstalkm.Client = make("Client", *(args or server.address), **kwargs)
        return client

    return factory


@pytest.fixture
def make_connection(make: Callable[..., Any], server: BeanstalkdProcess) -> MakeConnection:
    """A Connection of the test's kind; the test server unless another address is given."""

    def factory(*args: Any, **kwargs: Any) -> beanstalkm.Connection:
        kwargs.setdefault("timeout", 5)
        connection: beanstalkm.Connection = make("Connection", *(args or server.address), **kwargs)
        return connection

    return factory


@pytest.fixture
def connection(make_connection: MakeConnection) -> beanstalkm.Connection:
    return make_connection()


@pytest.fixture
def client(make_client: MakeClient) -> beanstalkm.Client:
    return make_client()


@pytest.fixture
def other(make_client: MakeClient) -> beanstalkm.Client:
    """A second client on the same server."""
    return make_client()
