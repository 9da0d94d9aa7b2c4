"""parse_yaml on the exact YAML beanstalkd 1.12 and 1.13+ send.

Values are typed by key, never by how they look: a general YAML loader turns a tube
named ``123`` into an int and ``os: #1 SMP`` into None, and that is what these guard.
"""

from __future__ import annotations

import pytest

from beanstalkm.stats import StatsParseError, parse_yaml

# 1.12's exact bytes (PROTOCOL-NOTES.md).
STATS_JOB_1_12 = (
    b"---\nid: 1\ntube: jobs.v1\nstate: reserved\npri: 100\nage: 1\ndelay: 0\nttr: 30\n"
    b"time-left: 29\nfile: 0\nreserves: 1\ntimeouts: 0\nreleases: 0\nburies: 0\nkicks: 0\n"
)
LIST_TUBES_1_12 = b"---\n- default\n- jobs.v1\n"

STATS_TUBE_1_12 = (
    b"---\nname: jobs.v1\ncurrent-jobs-urgent: 1\ncurrent-jobs-ready: 2\n"
    b"current-jobs-reserved: 3\ncurrent-jobs-delayed: 4\ncurrent-jobs-buried: 5\n"
    b"total-jobs: 6\ncurrent-using: 7\ncurrent-watching: 8\ncurrent-waiting: 9\n"
    b"cmd-delete: 10\ncmd-pause-tube: 11\npause: 12\npause-time-left: 13\n"
)

# The server's STATS_FMT in 1.12, filled in as a Debian VM answered.
SERVER_COUNTERS = [
    "current-jobs-urgent",
    "current-jobs-ready",
    "current-jobs-reserved",
    "current-jobs-delayed",
    "current-jobs-buried",
    "cmd-put",
    "cmd-peek",
    "cmd-peek-ready",
    "cmd-peek-delayed",
    "cmd-peek-buried",
    "cmd-reserve",
    "cmd-reserve-with-timeout",
    "cmd-delete",
    "cmd-release",
    "cmd-use",
    "cmd-watch",
    "cmd-ignore",
    "cmd-bury",
    "cmd-kick",
    "cmd-touch",
    "cmd-stats",
    "cmd-stats-job",
    "cmd-stats-tube",
    "cmd-list-tubes",
    "cmd-list-tube-used",
    "cmd-list-tubes-watched",
    "cmd-pause-tube",
    "job-timeouts",
    "total-jobs",
    "max-job-size",
    "current-tubes",
    "current-connections",
    "current-producers",
    "current-workers",
    "current-waiting",
    "total-connections",
    "pid",
]
OS_1_12 = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)"


def server_stats(
    *,
    hostname: str = "vm",
    os: str = OS_1_12,
    platform: str = "x86_64",
    server_id: str = "e546c3025f7f41da",
) -> bytes:
    lines = ["---"]
    lines += [f"{key}: {i}" for i, key in enumerate(SERVER_COUNTERS)]
    lines += [
        'version: "1.12"',
        "rusage-utime: 0.012345",
        "rusage-stime: 1.000000",
        "uptime: 3600",
        "binlog-oldest-index: 0",
        "binlog-current-index: 0",
        "binlog-records-migrated: 0",
        "binlog-records-written: 0",
        "binlog-max-size: 10485760",
        "draining: false",
        f"id: {server_id}",
        f"hostname: {hostname}",
        f"os: {os}",
        f"platform: {platform}",
    ]
    return ("\n".join(lines) + "\n").encode()


# -- stats-job --


def test_stats_job_1_12() -> None:
    assert parse_yaml(STATS_JOB_1_12, "job") == {
        "id": 1,
        "tube": "jobs.v1",
        "state": "reserved",
        "pri": 100,
        "age": 1,
        "delay": 0,
        "ttr": 30,
        "time-left": 29,
        "file": 0,
        "reserves": 1,
        "timeouts": 0,
        "releases": 0,
        "buries": 0,
        "kicks": 0,
    }


def test_stats_job_1_13_quotes_the_tube() -> None:
    data = STATS_JOB_1_12.replace(b"tube: jobs.v1", b'tube: "jobs.v1"')
    assert parse_yaml(data, "job") == parse_yaml(STATS_JOB_1_12, "job")


# A general YAML loader would make each of these a number, a bool or None.
TRICKY_TUBES = ["123", "true", "false", "null", "1.5", "0x1F", "yes", "no", "on", "~", "1e3", "-1"]


@pytest.mark.parametrize("quoted", [False, True], ids=["1.12", "1.13"])
@pytest.mark.parametrize("tube", TRICKY_TUBES)
def test_tricky_tube_names_stay_str(tube: str, quoted: bool) -> None:
    written = f'"{tube}"' if quoted else tube
    job = parse_yaml(STATS_JOB_1_12.replace(b"tube: jobs.v1", f"tube: {written}".encode()), "job")
    assert job["tube"] == tube
    assert type(job["tube"]) is str
    assert job["id"] == 1
    tube_stats = parse_yaml(
        STATS_TUBE_1_12.replace(b"name: jobs.v1", f"name: {written}".encode()), "tube"
    )
    assert tube_stats["name"] == tube
    assert type(tube_stats["name"]) is str
    assert parse_yaml(f"---\n- default\n- {written}\n", "list") == ["default", tube]


def test_job_id_is_int() -> None:
    job = parse_yaml(STATS_JOB_1_12.replace(b"id: 1\n", b"id: 18446744073709551615\n"), "job")
    assert job["id"] == 2**64 - 1
    assert type(job["id"]) is int


# -- stats-tube --


def test_stats_tube_1_12() -> None:
    stats = parse_yaml(STATS_TUBE_1_12, "tube")
    assert stats["name"] == "jobs.v1"
    counters = [v for k, v in stats.items() if k != "name"]
    assert counters == list(range(1, 14))
    assert all(type(v) is int for v in counters)


def test_stats_tube_1_13_quotes_the_name() -> None:
    stats = parse_yaml(STATS_TUBE_1_12.replace(b"name: jobs.v1", b'name: "123"'), "tube")
    assert stats["name"] == "123"


def test_negative_pause_time_left() -> None:
    stats = parse_yaml(
        STATS_TUBE_1_12.replace(b"pause-time-left: 13", b"pause-time-left: -1"), "tube"
    )
    assert stats["pause-time-left"] == -1


# -- list-tubes --


def test_list_tubes_1_12() -> None:
    assert parse_yaml(LIST_TUBES_1_12, "list") == ["default", "jobs.v1"]


def test_list_tubes_accepts_str() -> None:
    assert parse_yaml(LIST_TUBES_1_12.decode(), "list") == ["default", "jobs.v1"]


def test_list_of_one() -> None:
    assert parse_yaml(b"---\n- default\n", "list") == ["default"]


# -- stats --


def test_server_stats_1_12() -> None:
    stats = parse_yaml(server_stats(), "server")
    for i, key in enumerate(SERVER_COUNTERS):
        assert stats[key] == i
        assert type(stats[key]) is int, key
    assert stats["version"] == "1.12"
    assert stats["rusage-utime"] == 0.012345
    assert stats["rusage-stime"] == 1.0
    assert type(stats["rusage-stime"]) is float
    assert stats["uptime"] == 3600
    assert stats["binlog-max-size"] == 10485760
    assert stats["draining"] is False
    assert stats["id"] == "e546c3025f7f41da"
    assert stats["hostname"] == "vm"
    assert stats["os"] == OS_1_12
    assert stats["platform"] == "x86_64"


def test_server_stats_draining_true() -> None:
    data = server_stats().replace(b"draining: false", b"draining: true")
    assert parse_yaml(data, "server")["draining"] is True


@pytest.mark.parametrize("server_id", ["1234567890123456", "0000000000000001", "1e10000000000000"])
def test_server_id_stays_str_even_when_it_looks_like_a_number(server_id: str) -> None:
    stats = parse_yaml(server_stats(server_id=server_id), "server")
    assert stats["id"] == server_id


@pytest.mark.parametrize("hostname", ["123", "true", "null", "1.5", "~"])
def test_hostname_stays_str(hostname: str) -> None:
    stats = parse_yaml(server_stats(hostname=hostname), "server")
    assert stats["hostname"] == hostname


def test_os_with_colons_and_hash() -> None:
    os = "#1 SMP: PREEMPT_DYNAMIC Tue: 12:00:00 UTC"
    assert parse_yaml(server_stats(os=os), "server")["os"] == os


def test_server_stats_1_13_quoted_forms() -> None:
    data = server_stats(hostname='"x"', os=f'"{OS_1_12}"', platform='"x86_64"')
    stats = parse_yaml(data, "server")
    assert stats["hostname"] == "x"
    assert stats["os"] == OS_1_12
    assert stats["platform"] == "x86_64"
    assert stats["version"] == "1.12"


def test_version_unquoted() -> None:
    data = server_stats().replace(b'version: "1.12"', b"version: 1.12")
    assert parse_yaml(data, "server")["version"] == "1.12"


def test_crlf_line_endings_are_read_too() -> None:
    assert parse_yaml(STATS_JOB_1_12.replace(b"\n", b"\r\n"), "job") == parse_yaml(
        STATS_JOB_1_12, "job"
    )


# -- keys a newer server adds --


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("cmd-reserve-job: 5", 5),
        ("new-signed: -5", -5),
        ("new-float: 1.250000", 1.25),
        ("new-flag: true", True),
        ("new-off: false", False),
        ("new-name: abc", "abc"),
        ('new-quoted: "123"', "123"),
        ('new-quoted-bool: "true"', "true"),
        ("new-empty: ", ""),
        ("new-version: 1.2.3", "1.2.3"),
    ],
)
def test_unknown_keys_are_inferred(line: str, value: object) -> None:
    for shape in ("server", "tube", "job"):
        parsed = parse_yaml(f"---\n{line}\n", shape)
        (got,) = parsed.values()
        assert got == value
        assert type(got) is type(value)


# -- malformed --


@pytest.mark.parametrize(
    ("data", "shape"),
    [
        pytest.param(b"", "job", id="empty"),
        pytest.param(b"id: 1\n", "job", id="no-document-start"),
        pytest.param(b"--\nid: 1\n", "job", id="short-document-start"),
        pytest.param(b"--- \nid: 1\n", "job", id="document-start-with-space"),
        pytest.param(b"---\nid 1\n", "job", id="no-colon"),
        pytest.param(b"---\n: 1\n", "job", id="no-key"),
        pytest.param(b"---\n id: 1\n", "job", id="indented-key"),
        pytest.param(b"---\nid: 1\n\ntube: a\n", "job", id="blank-line-inside"),
        pytest.param(b"---\nid: one\n", "job", id="job-id-not-int"),
        pytest.param(b"---\nid: \n", "job", id="job-id-empty"),
        pytest.param(b"---\npri: 1.5\n", "job", id="pri-float"),
        pytest.param(b"---\ncurrent-jobs-ready: x\n", "tube", id="counter-not-int"),
        pytest.param(b"---\npause: true\n", "tube", id="pause-bool"),
        pytest.param(b"---\ndraining: yes\n", "server", id="draining-yes"),
        pytest.param(b"---\ndraining: 1\n", "server", id="draining-1"),
        pytest.param(b"---\nrusage-utime: fast\n", "server", id="rusage-not-number"),
        pytest.param(b"---\npid: 0x10\n", "server", id="pid-hex"),
        pytest.param(b"---\ndefault\n", "list", id="list-item-without-dash"),
        pytest.param(b"---\n-default\n", "list", id="list-item-without-space"),
        pytest.param(b"---\n- a\nb: 1\n", "list", id="list-then-key"),
        pytest.param(b"---\n- a\n\n- b\n", "list", id="list-blank-line-inside"),
    ],
)
def test_malformed(data: bytes, shape: str) -> None:
    with pytest.raises(StatsParseError):
        parse_yaml(data, shape)


def test_stats_parse_error_is_a_value_error() -> None:
    assert issubclass(StatsParseError, ValueError)


def test_unknown_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        parse_yaml(STATS_JOB_1_12, "jobs")
