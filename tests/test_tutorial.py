"""docs/tutorial.md is executed, example by example, against a real beanstalkd and
against the embedded server started as the tutorial says (``beanstalkm serve``)."""

from __future__ import annotations

import doctest
import re
import shlex
import sys
from pathlib import Path

from beanstalkm.testing import BeanstalkdProcess

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
TUTORIAL_PORT = "14711"


def run_tutorial(port: int) -> None:
    # The tutorial's readers run beanstalkd on 14711; the test's server is elsewhere.
    text = TUTORIAL.read_text(encoding="utf-8").replace(TUTORIAL_PORT, str(port))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "tutorial.md", str(TUTORIAL), 0)
    assert len(test.examples) > 80
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} tutorial examples failed"


def test_tutorial(server: BeanstalkdProcess) -> None:
    run_tutorial(server.port)


def test_tutorial_on_the_embedded_server() -> None:
    [line] = re.findall(r"^ {4}(beanstalkm serve .*)$", TUTORIAL.read_text(encoding="utf-8"), re.M)
    assert shlex.split(line)[2:] == ["-p", TUTORIAL_PORT]
    # That command, as this interpreter runs it, on a port the test chooses (the
    # process is given -l and -p as beanstalkd would be).
    server = BeanstalkdProcess(binary=[sys.executable, "-m", "beanstalkm", "serve"])
    with server as (_, port):
        run_tutorial(port)
