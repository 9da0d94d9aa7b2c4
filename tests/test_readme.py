"""The README's examples (and the asyncio example of docs/reference.md) run and do
what their comments say."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from beanstalkm.testing import BeanstalkdProcess

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")

pytest_plugins = ["pytester"]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def on_port(code: str, port: int) -> str:
    """The example, talking to the test's server instead of 11300."""
    assert '"127.0.0.1", 11300' in code
    return code.replace('"127.0.0.1", 11300', f'"127.0.0.1", {port}')


def test_the_first_commands_are_the_demo_and_the_tests() -> None:
    first = blocks(README, "sh")[0].splitlines()
    # the demo, run as it is by tests/test_demo.py; the tests, run by .ci/run
    assert first[0].startswith("PYTHONPATH=src python3 -m beanstalkm demo  ")
    assert first[1].startswith("scripts/test  ")
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_thirty_seconds_example(server: BeanstalkdProcess) -> None:
    [code] = [b for b in blocks(README, "python") if "send_email(**message.body)" in b]
    tree = ast.parse(on_port(code, server.port))
    *statements, last = tree.body
    assert isinstance(last, ast.Expr)
    sent: list[dict[str, Any]] = []
    namespace: dict[str, Any] = {"send_email": lambda **fields: sent.append(fields)}
    exec(compile(ast.Module(statements, []), "README.md", "exec"), namespace)
    ready = eval(compile(ast.Expression(last.value), "README.md", "eval"), namespace)
    namespace["client"].close()
    # "the dict you put, as you put it"; "0: an int, no YAML library"
    assert sent == [{"to": "ada@example.com", "subject": "Hello"}]
    assert ready == 0
    assert type(ready) is int


ASYNC_EXAMPLES = [
    pytest.param(code, id=f"{name}-{n}")
    for name, text in (("README", README), ("reference", REFERENCE))
    for n, code in enumerate(b for b in blocks(text, "python") if "aio.Client" in b)
]


@pytest.mark.parametrize("code", ASYNC_EXAMPLES)
def test_asyncio_examples_end(server: BeanstalkdProcess, tmp_path: Path, code: str) -> None:
    assert "asyncio.run(main())" in code  # a whole script, as it says
    path = tmp_path / "example.py"
    path.write_text(on_port(code, server.port))
    # messages(timeout=1) ends 1 s after the last job: well within the bound here.
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    for line in code.splitlines():
        shown = re.search(r"print\(message\.body\)\s+# (.*)$", line)
        if shown:
            assert result.stdout.splitlines() == [shown.group(1)]


def test_asyncio_examples_exist() -> None:
    assert len(ASYNC_EXAMPLES) == 2


def test_pytest_example(pytester: pytest.Pytester) -> None:
    [code] = [b for b in blocks(README, "python") if "beanstalk_client" in b]
    signup = (
        "def signup(email, queue):\n"  # what the application under test would do
        '    queue.put({"to": email, "subject": "Welcome"})\n\n\n'
    )
    pytester.makepyfile(test_signup=signup + code)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
