"""`bulkcc apply` from the command line: exit codes, signals, crashes, refusals (real subprocesses).

Also the --simulator walk-through as a user types it: separate commands, one state file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from support import (
    KEY,
    OK_ANSWER,
    SAMPLE,
    SAMPLES,
    WRONG_KEY,
    ScriptedApi,
    finish,
    gzip_bomb,
    ids_of,
    patches,
    realistic_rows,
    run_cli,
    simulator,
    start_cli,
    wait_until,
    write_rows,
)

from bulkcc.cli import main
from bulkcc.errors import (
    EXIT_ABORTED,
    EXIT_INVALID,
    EXIT_MAYBE_CREATED,
    EXIT_OK,
    EXIT_USAGE,
)
from bulkcc.run.journal import journal_path, read_journal
from bulkcc.send.connection import demo_ids
from bulkcc.sim.server import StateFile, seed_store
from bulkcc.workbook.hidden import SENT
from bulkcc.workbook.layout import DATA_SHEET
from bulkcc.workbook.results import read_results

# ---------------------------------------------------------------- the command line

def _statuses(path: Path) -> Counter:
    return Counter(r.status for r in read_results(path))


async def _interrupt_then_resume(tmp_path: Path, sig: int) -> None:
    """Start apply, stop it with `sig` mid-run, check nothing is lost, then --resume to the end."""
    rows = realistic_rows(40)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "out.xlsx"
    concurrency = 4
    async with simulator(ids_of(rows), rate_limit_per_min=1200, latency_ms=(200, 300)) as sim:
        args = [source, "--results", results, "--base-url", sim.base_url, "--rate-limit", "1200",
                "--concurrency", str(concurrency), "--quiet"]
        process = await start_cli(*args, cwd=tmp_path)
        # The signal must land mid-run: once some rows are done (the CLI's start-up time varies).
        await wait_until(lambda: sum(r.status == 200 for r in patches(sim)) >= 6 or process.returncode is not None,
                         what="the first answered PATCHes")
        in_flight = sum(1 for r in patches(sim) if r.status is None)
        assert in_flight <= concurrency
        process.send_signal(sig)
        first = await finish(process)
        await asyncio.sleep(0.5)  # after kill -9, let the server finish what it had in flight
        before = {i: sim.patch_count(i) for i in ids_of(rows)}

        journal = journal_path(results)
        assert journal.is_file()
        _, journaled = read_journal(journal)
        assert journaled and all(r.status == "updated" for r, _ in journaled.values())
        journaled_ids = {r.id for r, _ in journaled.values()}
        assert all(before[i] == 1 for i in journaled_ids)  # what the journal says happened, happened

        if sig == signal.SIGINT:
            assert first.code == EXIT_ABORTED, first
            assert "stopped" in first.stderr
            statuses = _statuses(results)
            assert set(statuses) == {"updated", "not_sent"} and sum(statuses.values()) == 40, statuses
            for result in read_results(results):  # nothing lost: the results say what the API saw
                assert before[result.id] == (1 if result.status == "updated" else 0), result
            assert {r.id for r in read_results(results) if r.status == "updated"} == journaled_ids
        else:
            assert first.code == -signal.SIGKILL, first
            assert not results.exists()  # killed before it could write: the journal is what remains

        assert sum(before.values()) < 40  # it was stopped mid-run
        second = await run_cli(*args, "--resume", cwd=tmp_path)
        assert second.code == EXIT_OK, second
        counts = {i: sim.patch_count(i) for i in ids_of(rows)}
        statuses = [r.status for r in sim.requests]

    assert 429 not in statuses
    assert all(count >= 1 for count in counts.values())  # no row lost
    assert all(counts[i] == 1 for i in journaled_ids)  # journaled rows are not sent again
    assert sum(counts.values()) <= 40 + concurrency
    assert sum(1 for c in counts.values() if c > 1) <= concurrency  # only rows in flight at the stop, if any
    final = read_results(results)
    assert [r.id for r in final] == ids_of(rows) and {r.status for r in final} == {"updated"}


async def test_ctrl_c_stops_sending_writes_results_and_resume_completes(tmp_path: Path) -> None:
    await _interrupt_then_resume(tmp_path, signal.SIGINT)


async def test_after_kill_9_resume_sends_only_what_is_left(tmp_path: Path) -> None:
    await _interrupt_then_resume(tmp_path, signal.SIGKILL)


async def test_sigterm_stops_like_ctrl_c(tmp_path: Path) -> None:
    rows = realistic_rows(20)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), rate_limit_per_min=600, latency_ms=(200, 300)) as sim:
        process = await start_cli(source, "--results", tmp_path / "out.xlsx", "--base-url", sim.base_url,
                                  "--rate-limit", "600", "--concurrency", "4", "--quiet", cwd=tmp_path)
        await wait_until(lambda: patches(sim) or process.returncode is not None, what="the first PATCH")
        process.send_signal(signal.SIGTERM)
        run = await finish(process)
    assert run.code == EXIT_ABORTED, run
    assert "not_sent" in _statuses(tmp_path / "out.xlsx")


async def test_ctrl_c_pressed_again_while_the_results_are_written_does_not_cut_them_short(tmp_path: Path) -> None:
    """People press Ctrl-C twice. The second press lands while the stopped run writes its results: they
    are written whole and the exit code is 3 (it was click's "Aborted!" and 1, no results, a run that
    looked as if it had ended with failed rows)."""
    rows = realistic_rows(20)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows), rate_limit_per_min=600, latency_ms=(200, 300)) as sim:
        process = await start_cli(source, "--results", tmp_path / "out.xlsx", "--base-url", sim.base_url,
                                  "--rate-limit", "600", "--concurrency", "4", cwd=tmp_path)
        await wait_until(lambda: patches(sim) or process.returncode is not None, what="the first PATCH")
        process.send_signal(signal.SIGINT)
        await wait_until(lambda: process.returncode is not None or any(tmp_path.glob(".out-*.xlsx.tmp")),
                         timeout=20, what="the results being written")
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        run = await finish(process)
    assert run.code == EXIT_ABORTED, run
    assert "Aborted!" not in run.stderr and "wrote" in run.stdout
    assert "not_sent" in _statuses(tmp_path / "out.xlsx")


async def test_rerunning_the_quick_start_says_it_finished_and_offers_restart(tmp_path: Path) -> None:
    """The README's own command, twice: the second names the finished run instead of asking for --resume."""
    (tmp_path / "sample_data").mkdir()
    (tmp_path / "sample_data" / "callcenters.xlsx").write_bytes(SAMPLE.read_bytes())
    args = ["sample_data/callcenters.xlsx", "--simulator", "--results", "results.xlsx"]
    first = await run_cli(*args, cwd=tmp_path)
    assert first.code == EXIT_OK, first
    results, journal = tmp_path / "results.xlsx", journal_path(tmp_path / "results.xlsx")
    written, journaled = results.stat().st_mtime_ns, journal.read_bytes()

    again = await run_cli(*args, cwd=tmp_path)
    assert again.code == EXIT_USAGE, again
    message = again.stderr
    assert "finished at" in message and "(20 updated;" in message, message
    assert "another --results path" in message and "--restart" in message
    assert "--resume" not in message
    assert "Traceback" not in again.stdout + again.stderr
    assert results.stat().st_mtime_ns == written and journal.read_bytes() == journaled  # nothing touched

    restarted = await run_cli(*args, "--restart", cwd=tmp_path)
    assert restarted.code == EXIT_OK, restarted
    assert _statuses(results) == {"updated": 20}


async def test_a_second_apply_on_the_same_results_is_refused_naming_the_first_and_kill_9_frees_it(
        tmp_path: Path) -> None:
    rows = realistic_rows(40)
    source = write_rows(tmp_path / "in.xlsx", rows)
    results = tmp_path / "out.xlsx"
    concurrency = 4
    async with simulator(ids_of(rows), latency_ms=(100, 200)) as sim:
        common = [source, "--results", results, "--base-url", sim.base_url, "--concurrency", str(concurrency),
                  "--quiet"]
        # Slow on purpose (2 a second): the first run must still be sending while the others try.
        first = await start_cli(*common, "--rate-limit", "120", cwd=tmp_path)
        await wait_until(lambda: sum(r.status == 200 for r in patches(sim)) >= 2 or first.returncode is not None,
                         what="the first run's first answers")
        assert first.returncode is None
        journaled_before = len(read_journal(journal_path(results))[1])
        others = await asyncio.gather(*(run_cli(*common, *extra, cwd=tmp_path)
                                        for extra in ([], ["--resume"], ["--restart"])))
        assert first.returncode is None  # the refusals happened while it ran
        for other in others:
            assert other.code == EXIT_USAGE, other
            assert "another bulkcc apply is running" in other.stderr, other
            assert f"pid {first.pid} on host {socket.gethostname()}" in other.stderr, other
            assert "Traceback" not in other.stderr
        # The --restart that was refused did not truncate the running run's journal.
        assert len(read_journal(journal_path(results))[1]) >= journaled_before

        first.send_signal(signal.SIGKILL)
        killed = await finish(first)
        assert killed.code == -signal.SIGKILL, killed
        await asyncio.sleep(0.5)  # let the server finish what it had in flight
        before = {i: sim.patch_count(i) for i in ids_of(rows)}
        _, journaled = read_journal(journal_path(results))
        assert sum(before.values()) < 40

        # The dead run's lock does not block: its journal asks for --resume, which completes the run.
        plain = await run_cli(*common, cwd=tmp_path)
        assert plain.code == EXIT_USAGE and "--resume" in plain.stderr and "stopped part way" in plain.stderr, plain
        resumed = await run_cli(*common, "--resume", cwd=tmp_path)
        assert resumed.code == EXIT_OK, resumed
        counts = {i: sim.patch_count(i) for i in ids_of(rows)}
    assert all(counts[i] == 1 for i in journaled)  # journaled rows are not sent again
    assert all(count >= 1 for count in counts.values())
    assert sum(1 for c in counts.values() if c > 1) <= concurrency  # only rows in flight at the kill
    assert _statuses(results) == {"updated": 40}


async def test_results_where_no_file_can_be_written_are_refused_before_any_request(tmp_path: Path) -> None:
    # Tests run as root, whom a read-only folder does not stop: these stop everyone.
    (tmp_path / "file.txt").write_text("a file, not a folder")
    cases = {
        tmp_path / "file.txt" / "results.xlsx": "is not a folder",  # a regular file in the path
        tmp_path / "missing" / "results.xlsx": "does not exist",
        Path("/sys/bulkcc-results.xlsx"): "cannot write in /sys",  # sysfs takes no new file, even from root
        tmp_path / "results.csv": "ends in .xlsx (e.g. results.xlsx)",  # an xlsx under a .csv name opens as nothing
    }
    rows = realistic_rows(3)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows)) as sim:
        runs = await asyncio.gather(*(run_cli(source, "--results", path, "--base-url", sim.base_url, cwd=tmp_path)
                                      for path in cases))
        assert sim.requests == []
    for (path, expected), run in zip(cases.items(), runs, strict=True):
        assert run.code == EXIT_USAGE, (path, run)
        assert expected in run.stderr and "nothing was sent" in run.stderr, (path, run)
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "missing").exists()


async def test_only_failed_resends_the_fixed_failed_rows_and_the_key_never_leaks(tmp_path: Path) -> None:
    rows = realistic_rows(10)
    source = write_rows(tmp_path / "in.xlsx", rows)
    first_results, second_results = tmp_path / "r1.xlsx", tmp_path / "r2.xlsx"
    unknown = {1003, 1007}  # the first API does not know them: 404
    async with simulator([i for i in ids_of(rows) if i not in unknown]) as sim:
        first = await run_cli(source, "--results", first_results, "--base-url", sim.base_url, cwd=tmp_path)
    assert first.code == EXIT_INVALID, first
    # Plain progress lines when not on a terminal: the reads before the first write (for the rollback),
    # then the sends; a call center the API does not know fails at its read, and is never sent.
    assert "reading 10 live call centers from" in first.stderr and "sending 8 requests to" in first.stderr
    failed = {r.id: r for r in read_results(first_results) if r.status == "failed"}
    assert set(failed) == unknown
    assert all(r.http_status == 404 and r.error == "reading the live call center: HTTP 404: Call center not found"
               for r in failed.values())

    # Fix a failed row in place in the results workbook, then send only the failed rows.
    workbook = load_workbook(first_results)
    sheet = workbook["Results"]
    header = [c.value for c in sheet[1]]
    for excel_row in range(2, sheet.max_row + 1):
        if str(sheet.cell(excel_row, header.index("id") + 1).value) == "1003":
            sheet.cell(excel_row, header.index("name") + 1).value = "Fixed name"
    workbook.save(first_results)

    async with simulator(ids_of(rows)) as sim:
        second = await run_cli(first_results, "--only-failed", "--results", second_results,
                               "--base-url", sim.base_url, cwd=tmp_path)
        sent = {r.callcenter_id: r.body for r in patches(sim)}
    assert second.code == EXIT_OK, second
    assert set(sent) == unknown  # only the failed rows
    assert sent[1003]["name"] == "Fixed name"
    final = read_results(second_results)
    assert [r.id for r in final] == ids_of(rows)
    assert {r.status for r in final} == {"updated"}
    carried = [r for r in final if r.id not in unknown]
    assert all(r.http_status == 200 and r.attempts == 1 for r in carried)

    # The key appears in no file written and in no output.
    for run in (first, second):
        assert KEY not in run.stdout and KEY not in run.stderr
    written = [p for p in tmp_path.iterdir() if p.is_file()]
    assert {p.name for p in written} >= {"r1.xlsx", "r2.xlsx", "r1.journal.jsonl", "r2.journal.jsonl",
                                         "r1-rollback.xlsx", "r2-rollback.xlsx"}
    for path in written:
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    assert KEY.encode() not in archive.read(member), f"{path.name}:{member}"
        else:
            assert KEY.encode() not in path.read_bytes(), path.name


async def test_a_refused_key_exits_3_and_does_not_print_the_key(tmp_path: Path) -> None:
    rows = realistic_rows(5)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows)) as sim:
        run = await run_cli(source, "--results", tmp_path / "r.xlsx", "--base-url", sim.base_url,
                            "--rate-limit", "600", "--no-rollback", key=WRONG_KEY, cwd=tmp_path)
        assert len(sim.requests) == 1
    assert run.code == EXIT_ABORTED, run
    assert "refused the key" in run.stderr
    assert WRONG_KEY not in run.stdout + run.stderr
    assert _statuses(tmp_path / "r.xlsx") == {"failed": 1, "not_sent": 4}  # the refused request is counted


async def test_invalid_rows_exit_1_from_the_command_line_with_nothing_sent(tmp_path: Path) -> None:
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 25], [1002, 60]])
    async with simulator([1001, 1002]) as sim:
        run = await run_cli(source, "--results", tmp_path / "r.xlsx", "--base-url", sim.base_url, cwd=tmp_path)
        assert sim.requests == []
        skipping = await run_cli(source, "--results", tmp_path / "r2.xlsx", "--base-url", sim.base_url,
                                 "--skip-invalid", cwd=tmp_path)
        assert [r.callcenter_id for r in patches(sim)] == [1001]
    assert run.code == EXIT_INVALID, run
    assert "--skip-invalid" in run.stderr
    assert skipping.code == EXIT_INVALID, skipping
    assert _statuses(tmp_path / "r2.xlsx") == {"updated": 1, "invalid": 1}


def test_the_command_line_refuses_unsafe_targets_before_connecting(tmp_path: Path) -> None:
    # No request may start, so these need no process of their own: click's runner is enough.
    source = write_rows(tmp_path / "in.xlsx", realistic_rows(2))
    cases = {
        "plain http off loopback": ([source, "--base-url", "http://dialpad.example.com"], "plain http"),
        "over Dialpad's limit": ([source, "--rate-limit", "5000"], "over Dialpad's limit"),
        "no terminal, no --yes": ([source, "--base-url", "https://api.example.invalid"], "--yes"),
        "key as a flag": ([source, "--api-key", KEY], "No such option"),
    }
    runner = CliRunner(env={"DIALPAD_API_KEY": KEY})
    runs = [runner.invoke(main, ["apply", *map(str, args), "--results", str(tmp_path / f"r{i}.xlsx")])
            for i, (args, _) in enumerate(cases.values())]
    for (case, (_, expected)), run in zip(cases.items(), runs, strict=True):
        assert run.exit_code == EXIT_USAGE, (case, run.output)
        assert expected in run.stderr, (case, run.stderr)
        assert "Traceback" not in run.output
    assert not list(tmp_path.glob("r*.xlsx")) and not list(tmp_path.glob("*.jsonl"))  # nothing was started
    assert "About to send 2 PATCH requests to https://api.example.invalid" in runs[2].stderr


async def test_plain_http_to_loopback_is_allowed(tmp_path: Path) -> None:
    rows = realistic_rows(2)
    source = write_rows(tmp_path / "in.xlsx", rows)
    async with simulator(ids_of(rows)) as sim:
        url = sim.base_url.replace("127.0.0.1", "localhost")
        run = await run_cli(source, "--results", tmp_path / "r.xlsx", "--base-url", url, cwd=tmp_path)
        assert len(patches(sim)) == 2
    assert run.code == EXIT_OK, run
    assert "2 updated" in run.stdout




# ---------------------------------------------------------------- the key: read carefully, never shown

async def _invoke(*args: object, env: dict[str, str] | None = None):
    """`bulkcc ARGS` through click's runner in a worker thread (a server on this loop keeps answering)."""
    runner = CliRunner()
    call = asyncio.to_thread(runner.invoke, main, [str(a) for a in args], env=env or {"DIALPAD_API_KEY": KEY})
    return await asyncio.wait_for(call, 60)


def _no_traceback(run) -> None:
    assert run.exception is None or isinstance(run.exception, SystemExit), run.exc_info
    assert "Traceback" not in run.output


async def test_a_key_file_loses_its_bom_and_blanks_and_is_warned_of_when_others_can_read_it(tmp_path: Path) -> None:
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 25]])
    key_file = tmp_path / "key.txt"
    key_file.write_bytes(b"\xef\xbb\xbf  " + KEY.encode() + b" \r\n")
    async with simulator([1001]) as sim:
        key_file.chmod(0o644)
        shared = await _invoke("apply", source, "--results", tmp_path / "r1.xlsx", "--base-url", sim.base_url,
                               "--api-key-file", key_file, env={})
        key_file.chmod(0o600)
        private = await _invoke("apply", source, "--results", tmp_path / "r2.xlsx", "--base-url", sim.base_url,
                                "--api-key-file", key_file, env={})
        # The key, as it is, was accepted: a read (for the rollback) and a PATCH each.
        assert [(r.method, r.status) for r in sim.requests] == [("GET", 200), ("PATCH", 200)] * 2
    assert shared.exit_code == EXIT_OK and private.exit_code == EXIT_OK, (shared.output, private.output)
    assert f"--api-key-file {key_file} is accessible by group or others (mode 0644)" in shared.stderr
    assert f"chmod 600 {key_file}" in shared.stderr
    assert "warning" not in private.stderr


KEYS_REFUSED = {
    "escape": (b"sk-test-\x1b[2J-key", "a blank, control or invisible character: U+001B at character 9"),
    "not utf-8": (b"sk-test-\xff-key", "is not UTF-8 text (byte 9 is 0xff)"),
    "utf-16": ("sk-test-key".encode("utf-16"), "is UTF-16 text"),
    "zero-width space": ("sk-test\u200b-key".encode(), "invisible character: U+200B at character 8"),
    "two lines": (b"sk-test-key\nsecond-line", "U+000A at character 12"),
    "smart quotes": ("\u201csk-test-key\u201d".encode(), "not plain ASCII ('\u201c'): U+201C at character 1"),
    "empty": (b"\xef\xbb\xbf \n", "is empty"),
}


@pytest.mark.parametrize("case", list(KEYS_REFUSED))
async def test_a_key_that_cannot_be_a_key_is_refused_before_any_request(tmp_path: Path, case: str) -> None:
    content, expected = KEYS_REFUSED[case]
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 25]])
    key_file = tmp_path / "key.txt"
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    async with ScriptedApi({"*": [OK_ANSWER]}) as api:
        from_file = await _invoke("apply", source, "--base-url", api.base_url, "--results", tmp_path / "r.xlsx",
                                  "--api-key-file", key_file, env={})
        from_env = await _invoke("export", "-o", tmp_path / "x.xlsx", "--base-url", api.base_url,
                                 env={"DIALPAD_API_KEY": "sk-test\x07bell"})
        assert api.total == 0
    _no_traceback(from_file)
    assert from_file.exit_code == EXIT_USAGE, from_file.output
    assert expected in from_file.stderr, from_file.stderr
    assert from_env.exit_code == EXIT_USAGE and "DIALPAD_API_KEY holds a blank, control" in from_env.stderr
    assert not (tmp_path / "r.xlsx").exists() and not (tmp_path / "x.xlsx").exists()


# ---------------------------------------------------------------- hostile servers: never a traceback

def _echo_key_answer(status: int):
    from aiohttp import web

    def handler(request):
        header = request.headers.get("Authorization", "")
        return web.json_response({"error": {"message": f"key {header.split()[-1]} refused ({header})"}},
                                 status=status)
    return ("call", handler)


HOSTILE = {
    # name: (the answer to every request, exit code of apply, exit code of export)
    "html 200": (("raw", 200, b"<!DOCTYPE html><html>Sign in</html>", {"Content-Type": "text/html"}), 1, 2),
    "truncated json": (("raw", 200, b'{"items": [{"id": "48', {"Content-Type": "application/json"}), 1, 2),
    "200 with a list": (("json", 200, [{"id": "1"}]), 1, 2),
    "redirect loop": (("text", 302, "", {"Location": "/api/v2/callcenters"}), 1, 2),
    "closes mid-body": (("cut", 200, b'{"items": [{"id": "48', 100_000), 1, 2),
    "gzip bomb": (("raw", 200, gzip_bomb(), {"Content-Encoding": "gzip", "Content-Type": "application/json"}), 1, 2),
    "10 MB error message": (("raw", 500, b"Error! " * (10 << 20 // 7), {"Content-Type": "text/plain"}), 1, 2),
    "escape sequences": (("json", 400, {"error": {"message": "\x1b[2J\x1b]0;owned\x07\x1b[31mred \u202eevil"}}),
                         1, 2),
    "key echoed": (_echo_key_answer(400), 1, 2),
    "key echoed on a 401": (_echo_key_answer(401), 3, 3),
}


def _written(tmp_path: Path) -> bytes:
    """Every byte bulkcc wrote (workbooks unzipped)."""
    data = b""
    for path in sorted(tmp_path.iterdir()):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                data += b"".join(archive.read(member) for member in archive.namelist())
        elif path.name != "in.xlsx":
            data += path.read_bytes()
    return data


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_no_server_answer_ends_in_a_traceback(tmp_path: Path, case: str) -> None:
    step, apply_code, export_code = HOSTILE[case]
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 25], [1002, 30]])
    async with ScriptedApi({"*": [step]}) as api:
        target = ["--base-url", api.base_url, "--rate-limit", "60000", "--max-attempts", "2", "--timeout", "5"]
        applied = await _invoke("apply", source, "--results", tmp_path / "r.xlsx", *target)
        exported = await _invoke("export", "-o", tmp_path / "x.xlsx", *target)
    for run, code in ((applied, apply_code), (exported, export_code)):
        _no_traceback(run)
        assert run.exit_code == code, (case, run.output)
        assert "\x1b" not in run.output and KEY not in run.output, run.output
        assert len(run.output) < 10_000  # a 10 MB message is not dumped on the terminal
    assert "error: " in exported.stderr  # one clear line
    statuses = _statuses(tmp_path / "r.xlsx")
    assert set(statuses) <= {"failed", "not_sent"} and statuses["failed"] >= 1, statuses  # never "updated"
    assert not (tmp_path / "x.xlsx").exists()
    written = _written(tmp_path)
    assert KEY.encode() not in written and b"\x1b" not in written


async def test_a_real_process_shows_no_traceback_for_an_html_answer(tmp_path: Path) -> None:
    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "ring_seconds"], [[1001, 25]])
    html = ("raw", 200, b"<html>\x1b[2J Sign in</html>", {"Content-Type": "text/html"})
    async with ScriptedApi({"*": [html]}) as api:
        target = ["--base-url", api.base_url, "--max-attempts", "2"]
        applied = await run_cli(source, "--results", tmp_path / "r.xlsx", *target, cwd=tmp_path)
        exported = await run_cli("-o", tmp_path / "x.xlsx", *target, cwd=tmp_path, command="export")
    assert applied.code == EXIT_INVALID and exported.code == EXIT_USAGE, (applied, exported)
    for run in (applied, exported):
        assert "Traceback" not in run.stdout + run.stderr and "\x1b" not in run.stdout + run.stderr, run
    assert "HTTP 200 but the answer is not JSON" in exported.stderr
    assert "1 failed" in applied.stdout


async def test_the_key_and_escapes_in_answer_data_never_reach_output_or_files(tmp_path: Path) -> None:
    """The consoles are the last filter: live values a server chose (a name with ESC and the key in it,
    an id that is the key) are printed by plan --diff and written by apply --diff."""
    from aiohttp import web

    def handler(request):
        asked = int(request.match_info["name"].rsplit("/", 1)[-1])
        if request.method == "PATCH":  # accepted, but for a "call center" whose id is the key
            return web.json_response({"id": KEY, "name": "New"})
        return web.json_response({"id": str(asked), "name": f"\x1b[2J\x1b]0;{KEY}\x07Old"})

    source = SAMPLES.write_workbook(tmp_path / "in.xlsx", ["id", "name"], [[1001, "New"]])
    async with ScriptedApi({"*": [("call", handler)]}) as api:
        target = ["--base-url", api.base_url, "--max-attempts", "1"]
        planned = await _invoke("plan", source, "--diff", *target)
        applied = await _invoke("apply", source, "--diff", "--results", tmp_path / "r.xlsx", *target)
    for run in (planned, applied):
        _no_traceback(run)
        assert "\x1b" not in run.output and KEY not in run.output, run.output
    assert planned.exit_code == EXIT_OK and "name: \\x1b[2J\\x1b]0;****\\x07Old → New" in planned.stdout
    assert applied.exit_code == EXIT_INVALID, applied.output
    (result,) = read_results(tmp_path / "r.xlsx")
    assert result.status == "mismatch" and "its id '****' is not a call center id" in result.error
    # The rollback keeps the live name exactly (less what xlsx cannot hold): it is data to restore,
    # and restoring "****" would change the name. Everything bulkcc itself writes is redacted.
    (tmp_path / "r-rollback.xlsx").unlink()
    written = _written(tmp_path)
    assert KEY.encode() not in written and b"\x1b" not in written


# ---------------------------------------------------------------- --simulator: one state file, many commands

FAST_SIM = ["--rate-limit", "600000", "--sim-rate-limit", "600000", "--concurrency", "16", "--max-attempts", "2"]


def _bulkcc(*args: Any, env: dict[str, str] | None = None) -> Any:
    run = CliRunner(env={"DIALPAD_API_KEY": None, **(env or {})}).invoke(main, [str(a) for a in args])
    assert "Traceback" not in run.output, run.output
    return run


def _edit_cells(path: Path, out: Path, cells: dict[tuple[int, str], Any]) -> Path:
    workbook = load_workbook(path)
    sheet = workbook[DATA_SHEET]
    header = [c.value for c in sheet[1]]
    for (row, column), value in cells.items():
        sheet.cell(row=row, column=header.index(column) + 1).value = value
    workbook.save(out)
    return out


def _cell(path: Path, row: int, column: str) -> Any:
    sheet = load_workbook(path, read_only=True)[DATA_SHEET]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    return next(sheet.iter_rows(min_row=row, max_row=row, values_only=True))[header.index(column)]


def test_the_readme_walk_as_separate_commands_on_one_simulator_state(tmp_path: Path) -> None:
    state = tmp_path / "company.jsonl"
    sim = ["--simulator", "--simulator-state", state, *FAST_SIM]
    exported = tmp_path / "live.xlsx"
    run = _bulkcc("export", "-o", exported, *sim)
    assert run.exit_code == EXIT_OK, run.output
    assert "exported 250 call centers" in run.output

    old_ring, old_name = _cell(exported, 2, "ring_seconds"), _cell(exported, 3, "name")
    new_ring = old_ring + 5 if old_ring <= 40 else old_ring - 5
    edited = _edit_cells(exported, tmp_path / "edited.xlsx", {
        (2, "ring_seconds"): new_ring, (3, "name"): f"{old_name} (moved)", (4, "hold_queue.max_hold_count"): 999})

    planned = _bulkcc("plan", edited, "--diff", *sim)
    assert planned.exit_code == EXIT_OK, planned.output
    assert "3 requests planned" in planned.output
    assert f"ring_seconds: {old_ring} → {new_ring}" in planned.output

    results = tmp_path / "results.xlsx"
    applied = _bulkcc("apply", edited, "--diff", "--results", results, *sim)
    assert applied.exit_code == EXIT_OK, applied.output
    assert _statuses(results) == {"updated": 3, "unchanged": 247}
    rollback = tmp_path / "results-rollback.xlsx"
    assert rollback.is_file()
    # The command it prints to undo names this simulator's company, not the default one's.
    assert f"--simulator --simulator-state {state}" in " ".join(applied.output.split())

    # A later command sees what the earlier one changed: nothing is left to send.
    again = _bulkcc("plan", edited, "--diff", *sim)
    assert "0 requests planned" in again.output and "250 rows unchanged" in again.output

    undo = _bulkcc("apply", rollback, "--results", tmp_path / "undo.xlsx", *sim)
    assert undo.exit_code == EXIT_OK, undo.output
    assert _statuses(tmp_path / "undo.xlsx") == {"updated": 3}

    after = _bulkcc("plan", exported, "--diff", *sim)
    assert after.exit_code == EXIT_OK, after.output
    assert "0 requests planned" in after.output and "250 rows unchanged" in after.output
    redo = _bulkcc("plan", edited, "--diff", *sim)
    assert "3 requests planned" in redo.output  # rolled back for real, so the edits differ again
    assert StateFile(state).load(dict) == seed_store(demo_ids(), random.Random(0))  # as it was made


def test_the_quick_start_works_from_a_fresh_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = _bulkcc("apply", SAMPLES.HERE / "callcenters.xlsx", "--simulator", "--results", "results.xlsx")
    assert first.exit_code == EXIT_OK, first.output
    assert "20 rows: 20 updated" in first.output
    kept = StateFile(tmp_path / ".bulkcc-simulator.jsonl").load(dict)
    assert sorted(kept) == sorted(demo_ids() + list(range(1001, 1021)))  # the sample's ids got made-up centers
    second = _bulkcc("apply", SAMPLES.HERE / "callcenters.xlsx", "--simulator", "--results", "results2.xlsx",
                     "--diff")
    assert second.exit_code == EXIT_OK, second.output
    assert _statuses(tmp_path / "results2.xlsx") == {"unchanged": 20}  # the first run's changes were kept


def test_the_sample_migration_creates_its_centers_with_their_agents_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = _bulkcc("apply", SAMPLES.HERE / "migration.xlsx", "--simulator", "--results", "results.xlsx")
    assert first.exit_code == EXIT_OK, first.output
    assert "4 rows: 3 created, 1 updated" in first.output and "16 operator rows: 16 added" in first.output
    kept = StateFile(tmp_path / ".bulkcc-simulator.jsonl").load(dict)
    created = {int(cc_id) for cc_id, cc in kept.items() if cc.get("name") in ("Support Berlin", "Support München",
                                                                            "Vertrieb Hamburg")}
    assert len(created) == 3
    again = _bulkcc("apply", SAMPLES.HERE / "migration.xlsx", "--simulator", "--results", "again.xlsx")
    assert again.exit_code == EXIT_INVALID  # the names are live in their office now: nothing is sent
    assert "already" in again.output
    assert len([cc for cc in StateFile(tmp_path / ".bulkcc-simulator.jsonl").load(dict).values()
                if cc.get("name") == "Support Berlin"]) == 1


def test_simulator_state_works_only_with_simulator(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "in.xlsx", realistic_rows(2))
    run = _bulkcc("apply", source, "--base-url", "http://127.0.0.1:9", "--simulator-state", tmp_path / "s.jsonl",
                  "--results", tmp_path / "r.xlsx", env={"DIALPAD_API_KEY": KEY})
    assert run.exit_code == EXIT_USAGE
    assert "--simulator-state" in run.stderr and "only with --simulator" in run.stderr
    assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "r.xlsx").exists()


async def test_two_commands_at_once_on_one_state_file_keep_every_change(tmp_path: Path) -> None:
    state = tmp_path / "company.jsonl"  # not there yet: both commands race to create it, too
    ids = list(range(3001, 3031)), list(range(3021, 3051))  # 3021..3030 in both, other fields
    rings = {cc_id: 10 + cc_id % 36 for cc_id in ids[0]}
    first = SAMPLES.write_workbook(tmp_path / "a.xlsx", ["id", "ring_seconds"], [[i, rings[i]] for i in ids[0]])
    second = SAMPLES.write_workbook(tmp_path / "b.xlsx", ["id", "name"], [[i, f"Team {i}"] for i in ids[1]])
    # 20 a second with answers in 20-60 ms: each sends for about 1.5 s, so the two overlap.
    sim = ["--simulator", "--simulator-state", state, "--sim-latency-ms", "20,60", "--quiet"]
    processes = [await start_cli(source, "--results", tmp_path / f"{source.stem}-results.xlsx", *sim,
                                 cwd=tmp_path, key=None) for source in (first, second)]
    runs = await asyncio.gather(*(finish(process) for process in processes))
    assert [run.code for run in runs] == [EXIT_OK, EXIT_OK], runs
    final = StateFile(state).load(dict)
    assert all(final[i]["ring_seconds"] == rings[i] for i in ids[0])
    assert all(final[i]["name"] == f"Team {i}" for i in ids[1])
    assert sorted(final) == sorted(set(demo_ids()) | set(ids[0]) | set(ids[1]))


def test_apply_shows_the_sheets_warnings_before_it_asks(tmp_path: Path) -> None:
    """Hidden rows are sent like any other: apply says so before the question (here: no terminal)."""
    from workbooks import write_sheet

    source = write_sheet(tmp_path / "in.xlsx", [["id", "name"], ["1001", "a"], ["1002", "b"]], hidden_rows=[3])
    run = CliRunner(env={"DIALPAD_API_KEY": KEY}).invoke(
        main, ["apply", str(source), "--results", str(tmp_path / "r.xlsx"), "--base-url", "https://api.example.invalid"])
    assert run.exit_code == EXIT_USAGE, run.output  # no terminal to confirm on, and no --yes
    warning = run.stderr.index("warning: 1 hidden row holds values, " + SENT + ": row 3")
    assert warning < run.stderr.index("About to send 2 PATCH requests")
    assert "Traceback" not in run.output


# ---------------------------------------------------------------- creates (issue 11)

DACH = 5_100_000_000_000_002  # an office the simulator knows


def _create_rows(count: int) -> list[dict[str, Any]]:
    return [{"name": f"Migrated Berlin {i:02d}", "office_id": DACH, "ring_seconds": 25} for i in range(count)]


def _stored_names(sim, office: int = DACH) -> Counter:
    return Counter(cc["name"] for cc in sim.store.values()
                   if cc.get("office_id") == office and cc["name"].startswith("Migrated"))


async def test_kill_9_during_the_creates_then_resume_creates_each_exactly_once(tmp_path: Path) -> None:
    rows = _create_rows(20)
    source = write_rows(tmp_path / "new.xlsx", rows, header=["id", "name", "office_id", "ring_seconds"])
    results = tmp_path / "out.xlsx"
    async with simulator([1001], rate_limit_per_min=1200, latency_ms=(200, 300)) as sim:
        args = [source, "--results", results, "--base-url", sim.base_url, "--rate-limit", "1200",
                "--concurrency", "4", "--quiet"]
        process = await start_cli(*args, cwd=tmp_path)
        posts = lambda: [r for r in sim.requests if r.method == "POST"]  # noqa: E731
        await wait_until(lambda: sum(r.status == 200 for r in posts()) >= 5 or process.returncode is not None,
                         what="the first answered creates")
        process.send_signal(signal.SIGKILL)
        killed = await finish(process)
        assert killed.code == -signal.SIGKILL, killed
        await asyncio.sleep(0.5)  # the simulator finishes the creates it had in flight (stored, answer lost)
        made_before = sum(_stored_names(sim).values())
        assert 5 <= made_before < 20

        refused = await run_cli(*args, cwd=tmp_path)  # a plain rerun is refused: it names --resume
        assert refused.code == EXIT_USAGE and "--resume" in refused.stderr, refused
        resumed = await run_cli(*args, "--resume", "--lookup-wait", "0.2s", cwd=tmp_path)
        if resumed.code == EXIT_MAYBE_CREATED:
            # A POST journaled but killed before it left: the office does not list it, so whether it was
            # made is not known; only the admin's word sends it again.
            assert "maybe_created" in resumed.stderr and "--resend-maybe-created" in resumed.stderr, resumed
            resumed = await run_cli(*args, "--resume", "--resend-maybe-created", cwd=tmp_path)
        assert resumed.code == EXIT_OK, resumed
        assert _stored_names(sim) == Counter(row["name"] for row in rows)  # each exactly once
        assert sum(r.status == 200 for r in posts()) == 20  # no create was made twice
        final = read_results(results)
        assert {r.status for r in final} == {"created"}
        by_name = {cc["name"]: cc_id for cc_id, cc in sim.store.items() if cc.get("office_id") == DACH}
        assert [r.id for r in final] == [by_name[row["name"]] for row in rows]

        again = await run_cli(*args, "--resume", cwd=tmp_path)  # the same workbook again: nothing new
        assert again.code == EXIT_OK and sum(r.status == 200 for r in posts()) == 20, again


async def test_a_create_workbook_on_the_simulator_rolls_back_only_with_allow_delete(tmp_path: Path) -> None:
    rows = _create_rows(3)
    source = write_rows(tmp_path / "new.xlsx", rows, header=["id", "name", "office_id", "ring_seconds"])
    async with simulator([1001]) as sim:
        url = ["--base-url", sim.base_url, "--quiet"]
        first = await run_cli(source, "--results", tmp_path / "out.xlsx", *url, cwd=tmp_path)
        assert first.code == EXIT_OK and "its created sheet lists the 3 call centers" in first.stdout, first
        created = {r.id for r in read_results(tmp_path / "out.xlsx")}
        rollback = tmp_path / "out-rollback.xlsx"

        kept = await run_cli(rollback, "--results", tmp_path / "undo.xlsx", *url, cwd=tmp_path)
        assert kept.code == EXIT_INVALID and "--allow-delete" in kept.stdout, kept
        assert not [r for r in sim.requests if r.method == "DELETE"] and created <= set(sim.store)

        undone = await run_cli(rollback, "--results", tmp_path / "undo2.xlsx", "--allow-delete", *url, cwd=tmp_path)
        assert undone.code == EXIT_OK, undone
        assert "0 rows" not in undone.stdout  # a rollback of creates only has no call center rows to count
        assert "created sheet: 3 call centers: 3 deleted" in undone.stdout, undone
        deletes = [r for r in sim.requests if r.method == "DELETE"]
        assert {r.callcenter_id for r in deletes} == created and len(deletes) == 3
        assert not created & set(sim.store) and 1001 in sim.store
        sheet = load_workbook(tmp_path / "undo2.xlsx")["Deleted"]
        assert [c.value for c in sheet[1]][:5] == ["row", "id", "name", "office_id", "status"]
        assert {row[4] for row in sheet.iter_rows(min_row=2, values_only=True)} == {"deleted"}


def test_the_confirmation_shows_creates_and_deletes_apart_from_updates(tmp_path: Path) -> None:
    from bulkcc.plan.undo_file import rollback_workbook
    from bulkcc.workbook.xlsx import save_atomic

    book = tmp_path / "c.csv"
    book.write_text(f"id,name,office_id,ring_seconds\n,Support Berlin,{DACH},20\n1001,,,25\n,Support Munich,{DACH},\n")
    runner = CliRunner()
    args = ["apply", str(book), "--base-url", "https://dialpad.invalid", "--results", str(tmp_path / "r.xlsx")]
    result = runner.invoke(main, args, env={"DIALPAD_API_KEY": KEY})
    assert result.exit_code == EXIT_USAGE
    assert ("About to create 2 call centers (POST) and send 1 PATCH request to https://dialpad.invalid. "
            "No terminal to confirm on") in result.stderr
    assert f'  row 2: POST /api/v2/callcenters create "Support Berlin" in office {DACH}' in result.stdout
    resend = runner.invoke(main, [*args, "--resend-maybe-created"], env={"DIALPAD_API_KEY": KEY})
    assert "--resend-maybe-created: each create whose outcome an earlier run did not learn" in resend.stdout

    # A rollback whose run's journal shows it created 7001 and 7002 (not 7003, added to the sheet by hand).
    journal = tmp_path / "run.journal.jsonl"
    journal.write_text("\n".join(json.dumps(line) for line in [
        {"journal": "bulkcc-journal/1", "run": "r1", "target": "https://dialpad.invalid"},
        *({"result": {"row": row, "id": cc, "status": "created"}, "body": "x", "create": {"office_id": DACH,
                                                                                       "name": name}}
          for row, cc, name in ((2, 7001, "a"), (3, 7002, "b")))]) + "\n")
    about = [("run", "r1"), ("journal", str(journal)), ("target", "https://dialpad.invalid")]
    rollback = tmp_path / "rollback.xlsx"
    save_atomic(rollback_workbook(about, [], [], [{"id": cc, "name": name, "office_id": DACH} for cc, name in (
        (7001, "a"), (7002, "b"), (7003, "c"))]), rollback)
    undo = ["apply", str(rollback), "--base-url", "https://dialpad.invalid", "--results", str(tmp_path / "u.xlsx")]
    kept = runner.invoke(main, undo, env={"DIALPAD_API_KEY": KEY})
    assert "Not deleted: 2 call centers on the created sheet (deleting needs --allow-delete)." in kept.stdout
    deleting = runner.invoke(main, [*undo, "--allow-delete"], env={"DIALPAD_API_KEY": KEY})
    assert "DELETE /api/v2/callcenters/{id} … 2 call centers" in deleting.stdout
    assert "Never deleted: 1 row of the created sheet, whatever the flags:" in deleting.stdout
    assert "does not show that run creating call center 7003" in deleting.stdout
