"""``beanstalkm put``: put a job, or one job per line of a stream.

``--lines`` reads stdin as it comes, so ``tail -f app.log | beanstalkm put --lines``
puts each line as soon as it is written. Lines that arrive together are sent together:
each read of stdin becomes pipelined batches of at most :data:`BATCH_JOBS` jobs and
:data:`BATCH_BYTES` bytes, sent at once, so a file of 50,000 lines costs about a
hundred round trips instead of 50,000.

With several servers each batch is spread over them as :class:`beanstalkm.Pool` spreads
a batch (round-robin, each server's share pipelined); a server that fails has its share
put on the others.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from typing import Any, Final

from ...errors import Buried, CommandFailed, Draining, JobTooBig
from ...servers import ambiguous_put
from ..base import EXIT_ERROR, EXIT_USAGE, CliClient, Context, Failure
from ..jsontext import dumps
from ..options import Subparsers, add_command, add_job_options, add_tube
from ..pool import SERVER_ERRORS, Servers
from ..progress import Progress, count

__all__ = ["BATCH_BYTES", "BATCH_JOBS", "add_parser", "cmd_put", "lines_of"]

#: Most jobs, and most body bytes, sent in one pipelined write.
BATCH_JOBS: Final = 1000
BATCH_BYTES: Final = 1 << 20
_READ_SIZE: Final = 1 << 16


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "put",
        cmd_put,
        "put a job into a tube",
        "Put a job: the BODY argument, or stdin byte for byte. Bodies are sent as they "
        "are (raw); --envelope parses them as JSON and sends beanstalkm's envelope, as "
        "beanstalkm.Client.put does. Prints the new job id. --lines puts one job per "
        "line as the lines arrive, many per round trip. With several servers, the jobs "
        "are spread over them in turn (as beanstalkm.Pool does).",
        [
            "beanstalkm put 'hello' --tube emails",
            'beanstalkm put --envelope \'{"to": "ada"}\' -t emails',
            "beanstalkm put --lines -t urls < urls.txt",
            "tail -f app.log | beanstalkm put --lines -t logs",
        ],
        pool=True,
    )
    p.add_argument("body", nargs="?", help="the job body ('-' or nothing: read stdin)")
    add_tube(p)
    add_job_options(p)
    p.add_argument(
        "--lines",
        action="store_true",
        help="one job per non-empty line (LF or CRLF), put as lines arrive",
    )
    kind = p.add_mutually_exclusive_group()
    kind.add_argument(
        "--envelope", action="store_true", help="body is JSON: send it in a beanstalkm envelope"
    )
    kind.add_argument("--raw", action="store_true", help="send the bytes as they are (default)")


# -- reading the input ----------------------------------------------------------------


def _from_stdin(args: argparse.Namespace) -> bool:
    return args.body is None or args.body == "-"


def _argument_bytes(args: argparse.Namespace) -> bytes:
    # What the shell gave us, as bytes again (undecodable bytes survive via
    # surrogateescape).
    return os.fsencode(args.body)


def _announce_stdin(what: str) -> None:
    if sys.stdin.isatty():
        print(f"beanstalkm put: reading {what} from stdin (end with Ctrl-D)", file=sys.stderr)


def _reads(fd: int) -> Iterator[bytes]:
    """What stdin has, as soon as it has it (a pipe gives what was written so far)."""
    while True:
        data = os.read(fd, _READ_SIZE)
        if not data:
            return
        yield data


def lines_of(chunks: Iterator[bytes]) -> Iterator[list[tuple[int, bytes]]]:
    """The complete non-empty lines of each chunk (without their LF or CRLF), each with
    its number in the input; the unfinished line waits for the next chunk, and comes
    last at the end."""
    rest = b""
    number = 0
    for chunk in chunks:
        *complete, rest = (rest + chunk).split(b"\n")
        found = []
        for line in complete:
            number += 1
            if line.strip():
                found.append((number, _strip_cr(line)))
        if found:
            yield found
    if rest.strip():
        yield [(number + 1, _strip_cr(rest))]


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


# -- envelope bodies ------------------------------------------------------------------


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_json: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite).decode


def _envelope_value(data: bytes) -> Any:
    """The JSON value of ``data``; ValueError says why it is not one that can be sent."""
    try:
        return _json(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8") from None
    except RecursionError:
        raise ValueError("it is nested too deeply") from None


# -- putting --------------------------------------------------------------------------


class _Putter:
    """Puts bodies in pipelined batches and prints what happened to each."""

    def __init__(
        self,
        ctx: Context,
        args: argparse.Namespace,
        client: CliClient,
        servers: Servers | None = None,
    ) -> None:
        self.ctx = ctx
        self.args = args
        self.client = client
        #: The pool, with several servers (then ``client`` only makes envelopes).
        self.servers = servers
        #: Jobs put on each server, with several.
        self.per_server: dict[str, int] = {}
        self.put = 0
        self.failed = 0
        #: Of the lines not put, those refused before sending (not JSON for --envelope).
        self.refused = 0
        self.first_id: int | None = None
        self.last_id: int | None = None

    def check_options(self) -> None:
        """Refuse a bad priority, delay or ttr before reading any input."""
        self.client.pipeline().put(b"", self.args.priority, self.args.delay, self.args.ttr)

    def body(self, line: int, data: bytes) -> bytes | None:
        """The bytes to send for ``data`` (line ``line``), or None (reported) when
        --envelope cannot send it."""
        if not self.args.envelope:
            return data
        try:
            value = _envelope_value(data)
        except ValueError as exc:
            where = f"line {line}" if self.args.lines else "the body"
            message = (
                f"{where} is not JSON that can be sent ({exc}); --envelope sends JSON "
                "values, leave it out to send the bytes as they are"
            )
            if not self.args.lines:
                raise Failure(message, EXIT_USAGE) from None
            self.refused += 1
            self.problem(message)
            return None
        envelope = self.client(
            value, priority=self.args.priority, delay=self.args.delay, ttr=self.args.ttr
        )
        return envelope.encode()

    def send(self, lines: list[tuple[int, bytes]]) -> None:
        """Put ``lines`` (numbered, each a job), in batches."""
        numbered: list[tuple[int, bytes]] = []
        size = 0
        for line, data in lines:
            body = self.body(line, data)
            if body is None:
                continue
            if numbered and (len(numbered) >= BATCH_JOBS or size + len(body) > BATCH_BYTES):
                self._flush(numbered)
                numbered, size = [], 0
            numbered.append((line, body))
            size += len(body)
        if numbered:
            self._flush(numbered)

    def _flush(self, numbered: list[tuple[int, bytes]]) -> None:
        args = self.args
        bodies = [body for _, body in numbered]
        if self.servers is None:
            results = self._pipelined(self.client, bodies)
            where: list[str | None] = [None] * len(bodies)
        else:
            results, where = self._spread(self.servers, bodies)
        out = self.ctx.out
        # Each record is the same but for the id: made from a template, written at once.
        after_id = ',"tube":' + dumps(args.tube) + "}"
        printed: list[str] = []
        for (line, body), result, address in zip(numbered, results, where, strict=True):
            if isinstance(result, Draining):
                raise Failure(
                    "the server is in drain mode and accepts no new jobs"
                    + (f" ({self.put} put before it)" if self.put else "")
                )
            if isinstance(result, BaseException):
                self.problem(self._describe(result, line, len(body)))
                continue
            self.put += 1
            self.last_id = result
            if self.first_id is None:
                self.first_id = result
            if address is not None:
                self.per_server[address] = self.per_server.get(address, 0) + 1
                ref = f"{address}/{result}"
                if out.json:
                    printed.append(
                        f'{{"id":{result},"server":{dumps(address)},"ref":{dumps(ref)}{after_id}'
                    )
                elif not args.lines:
                    out.write(f"put job {ref} into {args.tube}")
            elif out.json:
                printed.append(f'{{"id":{result}{after_id}')
            elif not args.lines:
                out.write(f"put job {result} into {args.tube}")
        if printed:
            out.stream.write("\n".join(printed) + "\n")
            out.stream.flush()

    def _pipelined(self, client: CliClient, bodies: list[bytes]) -> list[Any]:
        """Put ``bodies`` on one server in one round trip: each id, or its error."""
        args = self.args
        pipeline = client.pipeline()
        for body in bodies:
            pipeline.put(body, args.priority, args.delay, args.ttr)
        results: list[Any] = pipeline.execute()
        return results

    def _spread(self, servers: Servers, bodies: list[bytes]) -> tuple[list[Any], list[str | None]]:
        """Put ``bodies`` over the servers as the pool spreads a batch: each server's
        share in one round trip, a failed server's share put on the others (each
        server tried once per batch). Each result (an id, or the error of a job that
        no server refused for being down), and the server of each id."""
        placement = servers.pool.placement
        results: list[Any] = [None] * len(bodies)
        where: list[str | None] = [None] * len(bodies)
        todo = list(range(len(bodies)))
        tried: set[str] = set()
        while todo:
            shares = [(s, n) for s, n in placement.share(len(todo)) if s.address not in tried]
            if not shares:  # the servers chosen were tried: the whole rest to the next
                shares = [(s, len(todo)) for s in placement.order() if s.address not in tried][:1]
            if not shares:
                before = f" ({self.put} put before)" if self.put else ""
                raise servers.all_down(f"{len(todo)} job(s) not put{before}")
            start = 0
            failed: list[int] = []
            for server, n in shares:
                batch, start = todo[start : start + n], start + n
                address = server.address
                try:
                    answers = self._pipelined(servers.client(address), [bodies[i] for i in batch])
                except SERVER_ERRORS as exc:
                    server.failed()
                    tried.add(address)
                    servers.failed(address, exc)
                    if ambiguous_put(exc):
                        # As the pool's ambiguous="retry": put again elsewhere, at
                        # least once; say so, as the jobs may exist twice.
                        self.ctx.note(
                            f"{len(batch)} job(s) sent to {address} got no answer: put "
                            "on another server, they may also be on that one"
                        )
                    failed += batch
                    continue
                server.succeeded()
                for i, answer in zip(batch, answers, strict=True):
                    if isinstance(answer, Draining):
                        failed.append(i)
                        if address not in tried:
                            tried.add(address)
                            self.ctx.note(f"server {address} is draining: its jobs go elsewhere")
                    else:
                        results[i] = answer
                        where[i] = address
            todo = failed
        return results, where

    def _describe(self, exc: BaseException, line: int, size: int) -> str:
        where = f"line {line}: " if self.args.lines else ""
        if isinstance(exc, JobTooBig):
            return (
                f"{where}job of {size} bytes is bigger than the server's max-job-size "
                "(see: beanstalkm stats)"
            )
        if isinstance(exc, Buried):
            return f"{where}the server is out of memory: it buried job {exc.reply_args[0]}"
        if isinstance(exc, CommandFailed):
            return f"{where}{exc}"
        return f"{where}{type(exc).__name__}: {exc}"

    def problem(self, text: str) -> None:
        if not self.args.lines:
            raise Failure(text)
        self.failed += 1
        self.ctx.note(text)

    def summary(self) -> str:
        tube = self.args.tube
        jobs = "job" if self.put == 1 else "jobs"
        if self.first_id is None:
            return f"put no jobs into {tube}"
        if self.servers is not None:
            # Ids are per server: how many went where says more than a range.
            where = ", ".join(f"{count(n)} on {a}" for a, n in self.per_server.items())
            return f"put {count(self.put)} {jobs} into {tube} ({where})"
        ids = (
            f"id {self.first_id}"
            if self.first_id == self.last_id
            else f"ids {self.first_id}..{self.last_id}"
        )
        return f"put {count(self.put)} {jobs} into {tube} ({ids})"


def cmd_put(ctx: Context, args: argparse.Namespace) -> int:
    """Put one job, or one per line (``--lines``) as the lines arrive; print the ids."""
    client = ctx.client(use=args.tube)
    servers = Servers(ctx, use=args.tube) if ctx.pooled else None
    putter = _Putter(ctx, args, client, servers)
    try:
        putter.check_options()
        if not args.lines:
            if _from_stdin(args):
                _announce_stdin("the body")
                data = sys.stdin.buffer.read()
            else:
                data = _argument_bytes(args)
            putter.send([(1, data)])
            return 0
        if _from_stdin(args):
            _announce_stdin("lines")
            chunks: Iterator[bytes] = _reads(sys.stdin.fileno())
        else:
            chunks = iter([_argument_bytes(args)])
        with Progress(ctx.stderr_is_terminal and not sys.stdin.isatty()) as progress:
            for lines in lines_of(chunks):
                putter.send(lines)
                progress.show(
                    f"put {count(putter.put)} jobs into {args.tube} "
                    f"({progress.rate(putter.put):,.0f}/s)"
                )
    finally:
        client.close()
        if servers is not None:
            servers.close()
    if not ctx.out.json:
        ctx.out.write(putter.summary())
    if putter.failed:
        were = "line was" if putter.failed == 1 else "lines were"
        # Only bad input: a usage error, as for a single body.
        code = EXIT_USAGE if putter.refused == putter.failed else EXIT_ERROR
        raise Failure(f"{putter.failed} {were} not put (see above)", code)
    return 0
