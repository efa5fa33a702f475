"""The people of the demo city (``chat/demo.py``) by name, so a test says whom it acts as:
``dev_token(server, SUZUKI)`` rather than ``dev_token(server, "1002")``.

Each name is that person's staff number (what sessions, the API and the CLI take); the rest
of their row (name, role, department, extension) is ``ROSTER[SUZUKI]``. Both come from the
demo roster itself (``chat.demo.demo_staff()``), found by family name, so the roster is the
one place the numbers are written. Department codes: 100 総務部, 110 総務課, 111 庶務係,
112 人事係, 120 危機管理課, 121 防災係, 200 市民部, 210 市民課, 211 住民記録係, 300 建設部,
310 道路課, 311 維持係.
"""

from __future__ import annotations

from chat.demo import demo_staff
from chat.domain.imports import StaffRow

ROSTER: dict[str, StaffRow] = {row.staff_number: row for row in demo_staff()}


def _named(family_name: str) -> str:
    [number] = [n for n, row in ROSTER.items() if row.name.split()[0] == family_name]
    return number


SATO = _named("佐藤")         # 1001 総務部長 (manager, 100)
SUZUKI = _named("鈴木")       # 1002 庶務係 staff, extension 2101: a test's usual "me"
TAKAHASHI = _named("高橋")    # 1003 人事係 staff
TANAKA = _named("田中")       # 1004 防災係 staff, extension 2201
ITO = _named("伊藤")          # 1005 危機管理課長 (manager, 120)
WATANABE = _named("渡辺")     # 1006 住民記録係 staff (another department than SUZUKI's)
YAMAMOTO = _named("山本")     # 1007 市民課長 (manager, 210)
NAKAMURA = _named("中村")     # 1008 維持係 staff
KOBAYASHI = _named("小林")    # 1009 道路課長 (manager, 310)
KATO = _named("加藤")         # 1010 operator (the switchboard; extension 0), 庶務係
YOSHIDA = _named("吉田")      # 1011 auditor, 庶務係
YAMADA = _named("山田")       # 1012 admin, 総務課


def extension_of(staff_number: str) -> str:
    """The desk phone extension of a demo person who has one (the PBX tests ring it)."""
    extension = ROSTER[staff_number].extension
    assert extension is not None, f"{staff_number} has no extension in the demo roster"
    return extension
