"""The simulator's company beyond its call centers: users, call center licenses, operators, deletions.

A `Company` is changed only through *records*, plain dicts with a `kind`, which
`apply` folds in one at a time. The server builds the records a request makes
(after checking it), writes them to the state file and then applies them; the
state file applies the same records when it reads them back. So the file is a
log of what happened, and memory is always what the file says:

- `{"kind": "company", "users": N, "licenses": N, "offices": [...]}`: the pool
  of users, how many call center licenses the company has, its extra offices
  (the latest such record wins);
- `{"kind": "deleted", "id": CC}`: the call center and its operators are gone;
- `{"kind": "license", "user_id": U, "license": "agents"}`: U holds a call
  center license from now on (removing an operator never gives it back: the
  spec says the API "will not change or release any licenses");
- `{"kind": "operator", "callcenter_id": CC, "user_id": U, "role": R,
  "skill_level": S}`: U is an operator of CC (added, or its skill changed);
- `{"kind": "operator_removed", "callcenter_id": CC, "user_id": U}`.

Users are made up from their id alone (name, office, email `user{n}@example.com`,
state: a few are suspended or deleted), so only the pool's size is stored.
Like `store`, this module never reads bulkcc's own tables.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bulkcc.sim.store import OFFICES, USER_ID_BASE

DEFAULT_USERS = 500
DEFAULT_LICENSES = 1000
SEEDED_OPERATORS = (0, 3)  # operators a made-up call center starts with, at least and at most
SEED_POOL = 40  # made-up call centers draw their operators from the first users only: the rest hold no license
FIRST_CREATED_ID = 4_900_000_000_000_001  # created call centers get ids from here up, never reused
COMPANY_ID = 5_000_000_000_000_001
ROLES = ("admin", "operator", "supervisor")
ADD_SKILL, CHANGE_SKILL = (1, 100), (0, 100)  # the spec: 1-100 when adding, 0-100 when changed
# What an add of a user who is an operator already does: the spec does not say, so both are served.
REFUSE, UPDATE = "refuse", "update"
REPEATED_ADDS = (REFUSE, UPDATE)

_FIRST = ("Ada", "Ben", "Chloé", "Dara", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jules", "Kofi", "Lena",
          "Mateo", "Nia", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tomás", "Uma", "Viktor", "Wen", "Yara")
_LAST = ("Abara", "Berg", "Costa", "Dubois", "Eklund", "Fischer", "García", "Hughes", "Ito", "Jensen",
         "Kowalski", "Lund", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka", "Weber")


class ApiError(Exception):
    """A request the API refuses: answered `status` with the JSON error body carrying `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Company:
    """Users, licenses and operators of the simulated company (see the module docstring)."""

    users: int = DEFAULT_USERS
    licenses: int = DEFAULT_LICENSES
    offices: set[int] = field(default_factory=set)  # beyond those of OFFICES and of its call centers
    licensed: dict[int, str] = field(default_factory=dict)  # user id: license type, for license holders
    operators: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)  # cc: user: role, skill
    deleted: set[int] = field(default_factory=set)  # ids of deleted call centers: never served or reused
    configured: bool = False  # a company record has been applied (a state file from before has none)
    _groups: dict[int, set[int]] = field(default_factory=dict)  # user: call centers it operates in

    # ------------------------------------------------------------ records

    def clear(self) -> None:
        """Forget everything (before the state file is read again from its start)."""
        fresh = Company()
        self.__dict__.update(fresh.__dict__)

    def config_record(self) -> dict[str, Any]:
        return {"kind": "company", "users": self.users, "licenses": self.licenses, "offices": sorted(self.offices)}

    def apply(self, store: dict[int, dict[str, Any]], record: dict[str, Any]) -> None:
        """Fold one record in (`store` loses a deleted call center); ValueError if it is not one of ours."""
        kind = record.get("kind")
        if kind == "company":
            self.users, self.licenses = _count(record["users"]), _count(record["licenses"])
            self.offices = {_id(office) for office in record.get("offices", ())}
            self.configured = True
        elif kind == "deleted":
            cc_id = _id(record["id"])
            store.pop(cc_id, None)
            for user_id in self.operators.pop(cc_id, {}):
                self._groups[user_id].discard(cc_id)
            self.deleted.add(cc_id)
        elif kind == "license":
            self.licensed[_id(record["user_id"])] = str(record["license"])
        elif kind == "operator":
            cc_id, user_id = _id(record["callcenter_id"]), _id(record["user_id"])
            self.operators.setdefault(cc_id, {})[user_id] = {
                "role": str(record["role"]), "skill_level": _count(record["skill_level"])}
            self._groups.setdefault(user_id, set()).add(cc_id)
        elif kind == "operator_removed":
            cc_id, user_id = _id(record["callcenter_id"]), _id(record["user_id"])
            self.operators.get(cc_id, {}).pop(user_id, None)
            self._groups.get(user_id, set()).discard(cc_id)
        else:
            raise ValueError(f"unknown record kind {kind!r}")

    def created(self, cc_id: int) -> None:
        """A call center line for `cc_id` was read or written: it exists (again)."""
        self.deleted.discard(cc_id)

    def records(self) -> list[dict[str, Any]]:
        """Records that rebuild this company from nothing (a rewrite of the state file writes them)."""
        if not self.configured:
            return []
        out = [self.config_record()]
        out += [{"kind": "deleted", "id": cc_id} for cc_id in sorted(self.deleted)]
        out += [{"kind": "license", "user_id": u, "license": kind} for u, kind in sorted(self.licensed.items())]
        for cc_id in sorted(self.operators):
            for user_id, op in sorted(self.operators[cc_id].items()):
                out.append(_operator(cc_id, user_id, op["role"], op["skill_level"]))
        return out

    # ------------------------------------------------------------ questions

    @property
    def licenses_used(self) -> int:
        return len(self.licensed)

    @property
    def licenses_free(self) -> int:
        return max(0, self.licenses - self.licenses_used)

    def user_ids(self) -> range:
        """The pool: `users` ids from USER_ID_BASE + 1 up (distinct from every call center id)."""
        return range(USER_ID_BASE + 1, USER_ID_BASE + 1 + self.users)

    def is_user(self, user_id: int | None) -> bool:
        # A license holder outside today's pool (it shrank) is still a user of the company.
        return user_id is not None and (user_id in self.user_ids() or user_id in self.licensed)

    def known_offices(self, store: dict[int, dict[str, Any]]) -> set[int]:
        return set(OFFICES) | self.offices | {cc["office_id"] for cc in store.values() if cc.get("office_id")}

    def fresh_id(self, store: dict[int, dict[str, Any]]) -> int:
        """An id no call center ever had: above the made-up ones, the created ones and the deleted ones."""
        return max([FIRST_CREATED_ID - 1, *store, *self.deleted]) + 1

    def user(self, user_id: int) -> dict[str, Any]:
        """The user in internal form (UserProto, ints), with every call center it operates in."""
        index = user_id - USER_ID_BASE
        first, last = _FIRST[index % len(_FIRST)], _LAST[(index // len(_FIRST)) % len(_LAST)]
        office_id = sorted(OFFICES)[index % len(OFFICES)]
        timezone, country = OFFICES[office_id]
        groups = [
            {"group_id": cc_id, "group_type": "callcenter", "role": self.operators[cc_id][user_id]["role"],
             "do_not_disturb": False}
            for cc_id in sorted(self._groups.get(user_id, ()))
        ]
        return {
            "id": user_id, "company_id": COMPANY_ID, "first_name": first, "last_name": last,
            "display_name": f"{first} {last}", "emails": [f"user{index}@example.com"],
            "office_id": office_id, "country": country, "timezone": timezone, "language": "en",
            "state": user_state(index), "license": self.licensed.get(user_id, "talk"), "extension": f"{10000 + index}",
            "phone_numbers": [f"+1415556{index % 10_000:04d}"], "admin_office_ids": [],
            "is_admin": False, "is_super_admin": False, "is_available": True, "is_on_duty": False,
            "is_online": False, "do_not_disturb": False, "on_duty_status": "unavailable", "group_details": groups,
        }

    # ------------------------------------------------------------ what a request would change

    def add_records(self, cc_id: int, body: dict[str, Any], *, repeated: str = REFUSE) -> list[dict[str, Any]]:
        """The records of `POST .../operators` (`body` passed the schema); ApiError if refused.

        An add of a user who is an operator of the center already is refused (`repeated` REFUSE),
        or taken as an update (UPDATE): the user gets the body's role and skill level, the API's
        defaults (operator, 100) where the body has none, as an API of that kind would do."""
        user_id = body["user_id"]
        skill = body.get("skill_level")
        skill = ADD_SKILL[1] if skill is None else skill
        check_skill(skill, ADD_SKILL, "when adding an operator")
        self._need_user(user_id)
        if user_id in self.operators.get(cc_id, {}) and repeated == UPDATE:
            return [_operator(cc_id, user_id, body.get("role") or "operator", skill)]
        if user_id in self.operators.get(cc_id, {}):
            raise ApiError(400, f"User {user_id} is already an operator of call center {cc_id}: change its skill "
                                "level with PATCH .../operators/{user_id}/skill, or remove it first")
        records = []
        if user_id not in self.licensed:
            if self.licenses_free == 0:
                raise ApiError(400, f"No call center license is available for user {user_id}: all "
                                    f"{self.licenses} of the company's call center licenses are in use "
                                    "(removing an operator does not release one)")
            records.append({"kind": "license", "user_id": user_id, "license": body.get("license_type") or "agents"})
        records.append(_operator(cc_id, user_id, body.get("role") or "operator", skill))
        return records

    def remove_records(self, cc_id: int, user_id: Any) -> list[dict[str, Any]]:
        self.operator_of(cc_id, user_id)
        return [{"kind": "operator_removed", "callcenter_id": cc_id, "user_id": user_id}]

    def skill_records(self, cc_id: int, user_id: int | None, skill: int) -> list[dict[str, Any]]:
        check_skill(skill, CHANGE_SKILL, "when changing a skill level")
        op = self.operator_of(cc_id, user_id)
        return [_operator(cc_id, user_id, op["role"], skill)]  # type: ignore[arg-type]

    def operator_of(self, cc_id: int, user_id: int | None) -> dict[str, Any]:
        """The role and skill of `user_id` in `cc_id`; ApiError 404 if it is no user, or no operator there."""
        self._need_user(user_id)
        op = self.operators.get(cc_id, {}).get(user_id)  # type: ignore[arg-type]
        if op is None:
            raise ApiError(404, f"User {user_id} is not an operator of call center {cc_id}")
        return op

    def _need_user(self, user_id: int | None) -> None:
        if not self.is_user(user_id):
            raise ApiError(404, "User not found" if user_id is None else f"User {user_id} not found")

    # ------------------------------------------------------------ made-up operators

    def seed(self, store: dict[int, dict[str, Any]], cc_ids: Iterable[int],
             per_center: tuple[int, int] = SEEDED_OPERATORS) -> list[dict[str, Any]]:
        """Give each call center in `cc_ids` a few operators; applied, and returned to be written.

        Each call center's operators depend on its id alone (as `seed_store`'s
        call centers do), so two simulators seeded alike agree. They come from
        the first SEED_POOL users, who hold licenses that count against the limit.
        """
        pool = list(self.user_ids())[:SEED_POOL]
        records: list[dict[str, Any]] = []
        for cc_id in cc_ids:
            rng = random.Random(f"operators:{cc_id}")
            count = min(rng.randint(*per_center), len(pool))
            for user_id in sorted(rng.sample(pool, count)):
                role = rng.choices(ROLES, weights=(1, 8, 2))[0]
                new = [_operator(cc_id, user_id, role, rng.choice((50, 70, 80, 90, 100)))]
                if user_id not in self.licensed:
                    new.insert(0, {"kind": "license", "user_id": user_id, "license": "agents"})
                for record in new:
                    self.apply(store, record)
                records += new
        return records


def user_state(index: int) -> str:
    """A user's state, from its place in the pool: active, but for users 97, 197 … (suspended) and 98, 198 …
    (deleted), so that looking an agent up by email meets both."""
    return {97: "suspended", 98: "deleted"}.get(index % 100, "active")


def check_skill(skill: int, bounds: tuple[int, int], when: str) -> None:
    low, high = bounds
    if not low <= skill <= high:
        raise ApiError(400, f"skill_level: {skill} is outside {low} to {high} ({when})")


def _operator(cc_id: int, user_id: int, role: str, skill: int) -> dict[str, Any]:
    return {"kind": "operator", "callcenter_id": cc_id, "user_id": user_id, "role": role, "skill_level": skill}


def _id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{value!r} is not a positive integer id")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value
