"""The README's first command, ``PYTHONPATH=src python3 -m beanstalkm demo`` (``beanstalkm
demo`` once installed): the main job runs on the embedded server (or a named one),
nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from beanstalkm.testing import BeanstalkdProcess

ROOT = Path(__file__).resolve().parent.parent


def _demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "beanstalkm",
            "demo",
            "--messages",
            "600",
            "--time-limit",
            "60",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_on_the_embedded_server() -> None:
    env = {k: v for k, v in os.environ.items() if k != "BEANSTALKD_URL"}
    env["PYTHONPATH"] = str(ROOT / "src")
    result = _demo(env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "600 processed of 600 put" in result.stdout
    assert "lost 0, handled twice 0" in result.stdout


def test_demo_on_a_named_server(server: BeanstalkdProcess) -> None:
    env = dict(os.environ, BEANSTALKD_URL=f"beanstalk://{server.host}:{server.port}")
    result = _demo(env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"on {server.host}:{server.port}" in result.stdout
    assert "lost 0, handled twice 0" in result.stdout
