"""docs/worker.md and docs/cli.md stay true: examples run, every subcommand documented."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

from beanstalkm.cli import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_worker_doc_examples_run() -> None:
    path = DOCS / "worker.md"
    test = doctest.DocTestParser().get_doctest(
        path.read_text(encoding="utf-8"), {}, "worker.md", str(path), 0
    )
    assert test.examples
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_every_subcommand_has_a_section_with_an_example() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    names = next(a for a in parser._actions if a.dest == "command").choices
    assert names
    for name in names:
        section = re.search(rf"^## `beanstalkm {name}`\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        assert section, f"docs/cli.md has no section for {name}"
        assert f"beanstalkm {name}" in section.group(1), f"no example of {name}"


def test_worker_doc_names_every_counter() -> None:
    from dataclasses import fields

    from beanstalkm.worker import WorkerCounters

    text = (DOCS / "worker.md").read_text(encoding="utf-8")
    for field in fields(WorkerCounters):
        assert f"`{field.name}`" in text
