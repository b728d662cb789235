"""The server's text stays the server's: a server that echoes the API key (and escape sequences) in every
text field it sends has it written into no file bulkcc writes, whatever the command.

The API is a small stateful one of the test's own on loopback (`creates_api.CallCenterApi`) that appends
`ESC ] 0 ; KEY BEL` to every string of every answer but ids (names of the centers a run creates aside,
so that its creates can be verified: the live centers carry the key in their names instead), and refuses
an agent with the key in its message. Every command that writes a file runs against it, through the
CLI: export (with operators), plan (--out, --report, --json), apply (--diff, --exact-operators: results,
journal, rollback), apply of the saved plan, and apply of the rollback (--allow-delete). Then every byte
of every file (workbooks unzipped) is searched.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from creates_api import ID_KEYS, CallCenterApi, migration_book
from support import KEY, invoke_in_thread

pytestmark = pytest.mark.timeout(90)

OFFICE = 124
ECHO = f"\x1b]0;{KEY}\x07\x1b[2J"


def _every_byte(folder: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                found[path.name] = b"".join(archive.read(member) for member in archive.namelist())
        elif path.is_file():
            found[path.name] = path.read_bytes()
    return found


async def test_a_server_echoing_the_key_in_every_text_field_has_it_written_into_no_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    book = migration_book(tmp_path / "migration.xlsx",
                          [{"id": 1001, "ring_seconds": 45}, {"name": "New Center", "office_id": OFFICE}],
                          [{"call_center_id": 1001, "user_id": 501, "role": "operator"},
                           {"call_center_id": 1001, "user_id": 503, "role": "operator"},  # refused: the key in it
                           {"call_center_name": "New Center", "user_id": 504, "role": "supervisor"}])
    async with CallCenterApi() as api:
        api.store[1001] = {"id": 1001, "name": f"Old\x1b[2J{KEY}", "office_id": OFFICE, "ring_seconds": 25,
                           "group_description": f"desc {KEY}", "state": KEY}
        api.operators[1001] = {501: {"role": "operator", "skill_level": 50},
                               502: {"role": "supervisor", "skill_level": 70}}  # not listed: removed
        api.refuse_add[503] = (400, f"user 503 cannot join ({KEY}) \x1b[31mred")
        api.echo, api.echo_keeps = ECHO, ID_KEYS | {"name"}
        target = ["--base-url", api.base_url, "--max-attempts", "2", "--timeout", "5"]

        runs = {
            "export": await invoke_in_thread("export", "-o", out / "export.xlsx", "--operators", *target),
            "plan": await invoke_in_thread("plan", book, "--diff", "--exact-operators", "--out", out / "plan.json",
                                           "--report", out / "review.xlsx", "--json", out / "plan.jsonl",
                                           "--skip-invalid", *target),
            "apply": await invoke_in_thread("apply", book, "--diff", "--exact-operators", "--yes",
                                            "--results", out / "r.xlsx", *target),
        }
        runs["apply plan"] = await invoke_in_thread("apply", out / "plan.json", "--yes", "--results",
                                                    out / "r-plan.xlsx", *target)
        # The rollback re-adds the removed supervisor with the role the server sent, which is no role: invalid.
        runs["rollback"] = await invoke_in_thread("apply", out / "r-rollback.xlsx", "--yes", "--allow-delete",
                                                  "--skip-invalid", "--results", out / "undo.xlsx", *target)
    for name, run in runs.items():
        assert run.exception is None or isinstance(run.exception, SystemExit), (name, run.exception)
        assert "Traceback" not in run.output and KEY not in run.output and "\x1b" not in run.output, (name, run.output)
    written = _every_byte(out)
    assert {"export.xlsx", "plan.json", "review.xlsx", "plan.jsonl", "r.xlsx", "r.journal.jsonl", "r-rollback.xlsx",
            "r-plan.xlsx", "undo.xlsx"} <= set(written), sorted(written)
    for name, data in written.items():
        assert KEY.encode() not in data, name
        assert b"\x1b" not in data and b"\\u001b" not in data, name
    # The server's text did reach the files, scrubbed: the live name, a role, the refusal.
    everything = b"".join(written.values())
    assert b"Old\\x1b[2J****" in everything
    assert b"supervisor\\x1b]0;****\\x07" in everything
    assert b"user 503 cannot join (****)" in everything
