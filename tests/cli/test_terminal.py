"""What a person at a terminal sees: top quits on q, reserve says it is waiting, and
IPv6 addresses are written in brackets."""

from __future__ import annotations

import time

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess, free_port

from .util import Terminal, run_cli, wait_for


def test_top_quits_on_q(server: BeanstalkdProcess) -> None:
    with Terminal(server.address, "top", "-i", "30", "--plain") as terminal:
        terminal.read_until(b"(q or Ctrl-C to quit)")
        started = time.monotonic()
        terminal.type(b"q")
        assert terminal.finish(timeout=10) == 0
        assert time.monotonic() - started < 5  # at once, not after the 30 s interval
    assert terminal.output.endswith(b"\x1b[?25h\r\n")  # the cursor is back
    assert b"Traceback" not in terminal.output


def test_top_leaves_the_terminal_as_it_was(server: BeanstalkdProcess) -> None:
    import termios

    with Terminal(server.address, "top", "-i", "30", "--plain") as terminal:
        before = termios.tcgetattr(terminal.master)
        terminal.read_until(b"TUBE")
        assert termios.tcgetattr(terminal.master) != before  # keys come one by one
        terminal.type(b"Q")
        assert terminal.finish() == 0
        assert termios.tcgetattr(terminal.master) == before  # echo and line mode restored


def test_reserve_says_it_waits(server: BeanstalkdProcess, client: Client) -> None:
    with Terminal(server.address, "reserve", "-t", "emails") as terminal:
        terminal.read_until(b"beanstalkm reserve: waiting for a job in emails... (Ctrl-C to stop)")
        client.queue.use("emails")
        client.queue.put(b"hello")
        assert terminal.finish() == 0
    assert b"hello" in terminal.output
    with Terminal(server.address, "consume", "-t", "a", "-t", "b", "--timeout", "1") as terminal:
        assert terminal.finish() == 3
    assert b"waiting for up to 1s for a job in a, b..." in terminal.output


def test_reserve_does_not_say_it_waits_when_a_job_is_there(
    server: BeanstalkdProcess, client: Client
) -> None:
    client.queue.put(b"ready")
    with Terminal(server.address, "reserve") as terminal:
        assert terminal.finish() == 0
    assert b"waiting" not in terminal.output
    # nor in a pipe, or with --timeout 0
    client.queue.put(b"ready")
    result = run_cli(server.address, "consume", "--timeout", "1")
    assert "waiting" not in result.stderr


def test_ipv6_addresses_in_brackets() -> None:
    port = free_port()
    result = run_cli(None, "stats", "--host", "::1", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.startswith(f"beanstalkm stats: cannot connect to [::1]:{port}: ")
    assert f"::1:{port}" not in result.stderr.replace(f"[::1]:{port}", "")


def test_addresses_of_the_context() -> None:
    from beanstalkm.cli.base import Context
    from beanstalkm.cli.output import Output

    assert Context("::1", 11300, Output("json"), "x").address == "[::1]:11300"
    assert Context("127.0.0.1", 11300, Output("json"), "x").address == "127.0.0.1:11300"


def test_waiting_reserve_is_interrupted_cleanly(server: BeanstalkdProcess, client: Client) -> None:
    import signal

    with Terminal(server.address, "reserve", "-t", "never") as terminal:
        terminal.read_until(b"waiting for a job in never")
        wait_for(lambda: client.queue.stats_tube("never")["current-waiting"] == 1)
        terminal.proc.send_signal(signal.SIGINT)
        assert terminal.finish() == 130
    assert b"Traceback" not in terminal.output
