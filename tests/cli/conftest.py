"""The command line is the client here; tests set up and inspect with the blocking
client only (the shared fixtures would run each test with the asyncio client too)."""

from __future__ import annotations

import pytest


@pytest.fixture
def kind() -> str:
    return "sync"
