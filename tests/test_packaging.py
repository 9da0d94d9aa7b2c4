"""What the package index shows: classifiers, project URLs, a README whose links work
there, a changelog; and the entry points (``beanstalkm``, ``python -m beanstalkm``)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import beanstalkm

ROOT = Path(__file__).resolve().parent.parent
METADATA = importlib.metadata.metadata("beanstalkm")


def project_urls() -> dict[str, str]:
    return dict(entry.split(", ", 1) for entry in METADATA.get_all("Project-URL") or [])


def test_classifiers() -> None:
    classifiers = set(METADATA.get_all("Classifier") or [])
    assert {"Framework :: Pytest", "Framework :: AsyncIO", "Typing :: Typed"} <= classifiers
    versions = sorted(
        int(c.rsplit(".", 1)[1])
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    oldest = int(str(METADATA["Requires-Python"]).removeprefix(">=3."))
    assert versions == list(range(oldest, 14))  # every supported version, 3.10-3.13


def test_project_urls() -> None:
    urls = project_urls()
    assert set(urls) == {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}
    assert all(url.startswith("https://") for url in urls.values())


def test_readme_links_are_absolute_and_lead_to_files_here() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    inline = re.findall(r"\]\(([^)]+)\)", text)
    references = re.findall(r"^\[[^\]]+\]: (\S+)$", text, re.M)
    links = inline + references
    assert links
    repository = project_urls()["Repository"]
    for link in links:
        assert link.startswith("https://"), f"README link {link!r} is relative"
        if link.startswith(repository + "/"):
            path = re.sub(r"^/(blob|tree)/main/", "", link[len(repository) :])
            assert (ROOT / path).exists(), f"README links to {path}, which is not here"
    used = set(re.findall(r"\]\[([^\]]+)\]", text))
    defined = set(re.findall(r"^\[([^\]]+)\]: ", text, re.M))
    assert used <= defined


def test_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"\n## {beanstalkm.__version__}\n" in text
    assert "\n### Upgrading from 1.0.0\n" in text
    assert project_urls()["Changelog"].endswith("/CHANGELOG.md")


def test_python_m_beanstalkm_is_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "beanstalkm", "--version"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, f"beanstalkm {beanstalkm.__version__}\n")
    result = subprocess.run(
        [sys.executable, "-m", "beanstalkm", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.stdout.startswith("usage: beanstalkm ")


def test_console_script_entry_point() -> None:
    [script] = [
        e
        for e in importlib.metadata.entry_points(group="console_scripts")
        if e.name == "beanstalkm"
    ]
    assert script.value == "beanstalkm.cli:main"
