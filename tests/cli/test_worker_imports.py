"""``beanstalkm worker``: errors in finding and importing the user's module speak of
the user's code: where modules are looked for, and the user's own traceback frames."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .util import console_script


def worker(
    app: Path, target: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``beanstalkm worker`` against a server that is not there: every case here
    fails before connecting."""
    return subprocess.run(
        [*console_script(), "worker", target, "-t", "jobs", "--port", "1", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd or app,
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        "from . import helpers\n\ndef send_email(message):\n    pass\n\nHANDLERS = {}\n"
    )
    (package / "helpers.py").write_text("VALUE = 1\n")
    return tmp_path


def test_a_missing_module_says_where_it_was_looked_for(app: Path, tmp_path: Path) -> None:
    result = worker(app, "nothere.tasks:send")
    assert result.returncode == 2
    assert result.stderr == (
        f"beanstalkm worker: cannot import nothere.tasks: there is no module nothere in "
        f"{app} (the current directory, --app-dir) or on sys.path; run from the directory "
        "that holds it, or give --app-dir DIR\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = worker(app, "myapp.nothere:send", "--app-dir", str(app), cwd=elsewhere)
    assert "there is no module myapp.nothere in " + f"{app} (--app-dir)" in result.stderr
    found = worker(app, "myapp.tasks:nothing", "--app-dir", str(app), cwd=elsewhere)
    assert found.stderr == "beanstalkm worker: myapp.tasks has no nothing\n"


def test_an_exception_while_importing_shows_the_users_frames_only(app: Path) -> None:
    (app / "myapp" / "helpers.py").write_text("def setup():\n    return 1 / 0\n\nVALUE = setup()\n")
    result = worker(app, "myapp.tasks:send_email")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "beanstalkm worker: cannot import myapp.tasks: ZeroDivisionError: division by zero "
        "(myapp/helpers.py, line 2)"
    )
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"
    files = [line.split('"')[1] for line in lines if line.strip().startswith("File ")]
    assert [Path(f).relative_to(app).as_posix() for f in files] == [
        "myapp/tasks.py", "myapp/helpers.py", "myapp/helpers.py",
    ]  # fmt: skip
    assert "importlib" not in result.stderr
    assert "beanstalkm/" not in result.stderr.replace("beanstalkm worker:", "")


def test_an_import_error_inside_the_module_is_not_a_missing_module(app: Path) -> None:
    (app / "myapp" / "helpers.py").write_text("import no_such_dependency\n")
    result = worker(app, "myapp.tasks:send_email")
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first == (
        "beanstalkm worker: cannot import myapp.tasks: ModuleNotFoundError: No module named "
        "'no_such_dependency' (myapp/helpers.py, line 1)"
    )
    assert "Traceback" in result.stderr


def test_a_syntax_error_points_at_the_line(app: Path) -> None:
    (app / "myapp" / "helpers.py").write_text("VALUE = 1\ndef broken(:\n    pass\n")
    result = worker(app, "myapp.tasks:send_email")
    assert result.returncode == 1
    first, *rest = result.stderr.splitlines()
    assert first.startswith("beanstalkm worker: cannot import myapp.tasks: SyntaxError: ")
    assert first.endswith("(myapp/helpers.py, line 2)")
    assert any("def broken(:" in line for line in rest)
    assert any(line.strip() == "^" for line in rest)
    assert "importlib" not in result.stderr


def test_a_missing_name_suggests_a_close_one(app: Path) -> None:
    result = worker(app, "myapp.tasks:send_emial")
    assert result.returncode == 2
    assert result.stderr == (
        "beanstalkm worker: myapp.tasks has no send_emial; did you mean send_email?\n"
    )
    result = worker(app, "myapp.tasks:HANDLERS.x.y")
    assert "myapp.tasks:HANDLERS has no x" in result.stderr


def test_system_exit_while_importing(app: Path) -> None:
    (app / "myapp" / "helpers.py").write_text("import sys\nsys.exit(3)\n")
    result = worker(app, "myapp.tasks:send_email")
    assert result.returncode == 1
    assert "cannot import myapp.tasks: SystemExit: 3 (myapp/helpers.py, line 2)" in result.stderr


def test_the_worker_takes_only_the_output_option_it_uses() -> None:
    result = subprocess.run(
        [*console_script(), "worker", "--help"], capture_output=True, text=True, timeout=30
    )
    assert "--json" in result.stdout
    assert "--table" not in result.stdout and "--plain" not in result.stdout  # noqa: PT018
    result = subprocess.run(
        [*console_script(), "--plain", "worker", "m:f"], capture_output=True, text=True, timeout=30
    )
    assert (result.returncode, result.stderr) == (
        2, "beanstalkm worker: --plain does not apply to worker\n",
    )  # fmt: skip
