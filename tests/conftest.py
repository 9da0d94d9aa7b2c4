"""Fixtures: a fresh real beanstalkd per test, on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import beanstalkm
from beanstalkm.testing import BeanstalkdProcess


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


@pytest.fixture
def connection(server: BeanstalkdProcess) -> Iterator[beanstalkm.Connection]:
    conn = beanstalkm.Connection(*server.address, timeout=5)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def client(server: BeanstalkdProcess) -> Iterator[beanstalkm.Client]:
    c = beanstalkm.Client(*server.address, timeout=5)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def other(server: BeanstalkdProcess) -> Iterator[beanstalkm.Client]:
    """A second client on the same server."""
    c = beanstalkm.Client(*server.address, timeout=5)
    try:
        yield c
    finally:
        c.close()
