"""Row statuses: the one list of what can become of a row, and what each means.

Every part of bulkcc that asks about a status asks here: whether it counts as
a success (exit code 0), whether `--only-failed` sends it again, whether the
journal treats it as done for `--resume`, whether the Summary always counts it,
and its colour on the Results and Summary sheets. Bottom layer: imports nothing
of bulkcc.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """What became of one input row. A str, so it is written and compared as its word."""

    ok: bool
    resend: bool
    final: bool
    always_counted: bool
    fill: str

    #            word         ok     resend final  always  fill (RGB)
    UPDATED = ("updated", True, False, True, True, "C6EFCE")
    FAILED = ("failed", False, True, False, True, "FFC7CE")
    INVALID = ("invalid", False, True, False, True, "FFEB9C")
    SKIPPED = ("skipped", True, False, False, True, "EDEDED")
    NOT_SENT = ("not_sent", False, True, False, True, "DDEBF7")
    UNCHANGED = ("unchanged", True, False, False, False, "EDEDED")
    MISMATCH = ("mismatch", False, True, False, False, "F4B084")
    # A saved --diff plan's row whose live state moved since the plan was made: not sent.
    # Not re-sent by --only-failed: its body was planned against a state that is gone,
    # so sending it would overwrite someone's change unseen; a new plan decides.
    STALE = ("stale", False, False, False, False, "E4DFEC")
    # A row that created a call center (POST): its new id is in the Results' id column.
    CREATED = ("created", True, False, True, False, "A9D08E")
    # A create whose POST got no answer that settles it (a timeout, a dropped connection, a 5xx, a 202,
    # a 2xx that is no call center, an answer naming another center), and whose office did not list
    # it within the bounded wait: it may exist. Never POSTed again in that run; --resume (or this
    # results workbook fed back) looks again, and a second POST needs --resend-maybe-created.
    MAYBE_CREATED = ("maybe_created", False, True, False, False, "F8CBAD")
    # A row of a rollback's created sheet whose call center was deleted (only with --allow-delete).
    DELETED = ("deleted", True, False, True, False, "D9D9D9")
    # An operator added to or removed from a call center (the operators sheet's rows).
    ADDED = ("added", True, False, True, False, "C6EFCE")
    REMOVED = ("removed", True, False, True, False, "C6EFCE")

    def __new__(cls, word: str, ok: bool, resend: bool, final: bool, always_counted: bool,
                fill: str) -> Status:
        member = str.__new__(cls, word)
        member._value_ = word
        member.ok = ok  # counts as a success: the run can exit 0
        member.resend = resend  # picked again by --only-failed
        member.final = final  # the journal's "done": --resume does not send it again
        member.always_counted = always_counted  # on the Summary even when zero
        member.fill = fill
        return member

    @classmethod
    def of(cls, word: object) -> Status | None:
        """The status a results cell names, or None for a word bulkcc never writes."""
        try:
            return cls._value2member_map_[str(word or "").strip()]  # type: ignore[return-value]
        except KeyError:
            return None


OK_STATUSES = frozenset(s for s in Status if s.ok)
RESEND_STATUSES = frozenset(s for s in Status if s.resend)
FINAL_STATUSES = frozenset(s for s in Status if s.final)
