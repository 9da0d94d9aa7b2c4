"""docs/tutorial.md is executed, example by example, against a real beanstalkd."""

from __future__ import annotations

import doctest
from pathlib import Path

from beanstalkm.testing import BeanstalkdProcess

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
TUTORIAL_PORT = "14711"


def test_tutorial(server: BeanstalkdProcess) -> None:
    # The tutorial's readers run beanstalkd on 14711; the test's server is elsewhere.
    text = TUTORIAL.read_text(encoding="utf-8").replace(TUTORIAL_PORT, str(server.port))
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, "tutorial.md", str(TUTORIAL), 0)
    assert len(test.examples) > 80
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} tutorial examples failed"
