"""``beanstalkm web`` itself: it serves, says where, stops on a signal, and will not
serve other machines without a token unless told to."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from beanstalkm.testing import BeanstalkdProcess

from ..cli.util import cli_env, console_script, run_cli
from .conftest import NO_AIOHTTP

pytest.importorskip("aiohttp", reason=NO_AIOHTTP)

URL = re.compile(r"at (http://\S+) \(Ctrl-C to stop\)")


class Running:
    """``beanstalkm web ARGS`` in a process of its own, and the address it printed."""

    def __init__(self, address: tuple[str, int], *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [*console_script(), "web", "--listen", "127.0.0.1:0", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env or cli_env(address),
        )  # fmt: skip
        assert self.proc.stderr is not None
        self.lines: list[str] = []
        for line in self.proc.stderr:  # bounded: the process ends or prints it
            self.lines.append(line)
            match = URL.search(line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise AssertionError(f"beanstalkm web did not start: {self.lines}")

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(signum)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture
def running(server: BeanstalkdProcess) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()


def test_serves_says_where_and_stops_on_a_signal(
    server: BeanstalkdProcess, running: list[Running]
) -> None:
    run = Running(server.address)
    running.append(run)
    assert f"console of 127.0.0.1:{server.port} at http://127.0.0.1:" in run.lines[-1]
    with urllib.request.urlopen(run.url + "api/config", timeout=10) as reply:
        assert json.load(reply)["servers"][0]["address"] == f"127.0.0.1:{server.port}"
    assert run.stop(signal.SIGTERM)[0] == 0
    run = Running(server.address)
    running.append(run)
    assert run.stop(signal.SIGINT)[0] == 0  # Ctrl-C is the way to stop it


def test_several_servers_read_only(server: BeanstalkdProcess, running: list[Running]) -> None:
    with BeanstalkdProcess() as other:
        urls = f"beanstalk://127.0.0.1:{server.port},beanstalk://{other[0]}:{other[1]}"
        run = Running(server.address, "--url", urls, "--read-only")
        running.append(run)
        assert "(read-only)" in run.lines[-1]
        with urllib.request.urlopen(run.url + "api/config", timeout=10) as reply:
            config = json.load(reply)
        assert [s["address"] for s in config["servers"]] == [
            f"127.0.0.1:{server.port}", f"127.0.0.1:{other[1]}",
        ]  # fmt: skip
        assert config["read_only"] is True
        run.stop()


def test_with_a_token_the_address_printed_carries_it(
    server: BeanstalkdProcess, running: list[Running]
) -> None:
    env = cli_env(server.address, BEANSTALKM_WEB_TOKEN="t0ken")
    run = Running(server.address, env=env)
    running.append(run)
    assert run.url.endswith("/?token=t0ken")
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(run.url, timeout=10) as reply:  # redirected, with the cookie set
        assert (reply.status, reply.url) == (200, run.url.split("?")[0])
    with browser.open(run.url.split("?")[0] + "api/config", timeout=10) as reply:
        assert reply.status == 200
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(run.url.split("?")[0] + "api/config", timeout=10)
    run.stop()


def test_other_machines_need_a_token(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "web", "--listen", "0.0.0.0:0")
    assert result.returncode == 2
    assert "can be reached from other machines: give a token" in result.stderr
    both = run_cli(server.address, "web", "--listen", "0.0.0.0:0", "--token", "x", "--no-token")
    assert both.returncode == 2


def test_serving_other_machines_without_a_token_says_so_loudly(
    server: BeanstalkdProcess, running: list[Running]
) -> None:
    proc = subprocess.Popen(
        [*console_script(), "web", "--listen", "0.0.0.0:0", "--no-token"],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=cli_env(server.address),
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        first = proc.stderr.readline()
        assert "WARNING" in first and "WITHOUT A TOKEN" in first  # noqa: PT018
        assert "can delete and move jobs" in first
        assert URL.search(proc.stderr.readline())  # serving: it takes signals now
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_bad_options(server: BeanstalkdProcess) -> None:
    for args, error in [
        (["--listen", "nowhere"], "HOST:PORT"),
        (["--interval", "0"], "above 0"),
        (["--url", "beanstalk://a:1,beanstalk://a:1"], "named twice"),
    ]:
        result = run_cli(server.address, "web", *args)
        assert (result.returncode, error in result.stderr) == (2, True), result.stderr


def test_a_port_in_use_is_an_error(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "web", "--listen", f"127.0.0.1:{server.port}")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in result.stderr


def test_without_the_web_extra_it_says_what_to_install(server: BeanstalkdProcess) -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None; from beanstalkm.cli import main; "
        "sys.exit(main(['web']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
        env={**os.environ, **cli_env(server.address)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "pip install 'beanstalkm[web]'" in result.stderr
