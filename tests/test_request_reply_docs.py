"""docs/request-reply.md's examples run, against a real beanstalkd, and print what
their comments say: the worker in a process of its own, then each asking program."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from beanstalkm.testing import BeanstalkdProcess

from .test_readme import ROOT, blocks, on_port

DOC = (ROOT / "docs" / "request-reply.md").read_text(encoding="utf-8")


def promised(code: str) -> list[str]:
    """What the example's ``print(...)  # shown`` comments say it prints."""
    return [m.group(1) for m in re.finditer(r"print\(.*\)\s+# (.*)$", code, re.M)]


def test_the_examples_ask_and_the_worker_answers(server: BeanstalkdProcess, tmp_path: Path) -> None:
    worker_code, *askers = blocks(DOC, "python")
    assert "worker.run()" in worker_code
    assert len(askers) == 2
    (tmp_path / "prices.py").write_text(on_port(worker_code, server.port))
    worker = subprocess.Popen(
        [sys.executable, "prices.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for n, code in enumerate(askers):
            path = tmp_path / f"ask{n}.py"
            path.write_text(on_port(code, server.port))
            result = subprocess.run(
                [sys.executable, str(path)], capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == promised(code)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors
