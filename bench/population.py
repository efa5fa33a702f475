"""A benchmark city: a fresh database, staff imported through the real actions, and
sessions for them (real passkey sign-ins, or sessions minted for generated device keys).
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from chat.actions.orgchart import ALL_STAFF_SLUG, import_departments, import_staff
from chat.auth.sessions import Principal
from chat.config import Settings
from chat.context import open_context
from chat.domain.imports import DepartmentRow, StaffRow
from chat.domain.roles import Role
from chat.runtime import settle_garbage_collector
from chat.store.migrations import upgrade
from chat.store.uow import TxMode

POSTGRES_BASE = os.environ.get("BENCH_POSTGRES_URL",
                               "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@dataclass
class Person:
    staff_number: str
    department_code: str
    role: Role = Role.STAFF
    user_id: int = 0
    channels: list[int] = field(default_factory=list)
    token: str | None = None
    key_pem: bytes | None = None

    def principal(self) -> Principal:
        """Who this person is to an action called in-process (no session)."""
        return Principal(user_id=self.user_id, session_id=0, role=str(self.role),
                         name=self.staff_number, department_id=None)


@dataclass
class City:
    """The database and var dir a Tsunagu server runs on, and who is in it."""

    database_url: str
    var_dir: Path
    people: list[Person] = field(default_factory=list)
    department_channel: dict[str, int] = field(default_factory=dict)
    all_staff_channel: int = 0

    def settings(self) -> Settings:
        return Settings(database_url=self.database_url, var_dir=self.var_dir,
                        off_hours_policy=False, retention_interval_seconds=0)

    def server_env(self) -> dict[str, str]:
        return {"CHAT_DATABASE_URL": self.database_url, "CHAT_VAR_DIR": str(self.var_dir),
                "CHAT_OFF_HOURS_POLICY": "off", "CHAT_RETENTION_INTERVAL_HOURS": "0",
                # One address signs in the whole city: the per-address ceremony limit
                # (a NAT at 8:30) is lifted for the set-up, not for what is measured.
                "CHAT_SIGN_IN_ATTEMPTS_PER_MINUTE": "1000000",
                "CHAT_SIGN_IN_BURST": "100000",
                # Likewise every websocket comes from one address, the generator's: the
                # cap on its sockets still waiting to authenticate is the node's total.
                "CHAT_WS_UNAUTH_PER_ADDRESS": "1000"}

    def members(self) -> dict[int, int]:
        """Channel id -> how many of the city's people belong to it."""
        count: dict[int, int] = {}
        for person in self.people:
            for channel_id in person.channels:
                count[channel_id] = count.get(channel_id, 0) + 1
        return count


@contextmanager
def settled_after_setup() -> Iterator[None]:
    """Settle the garbage collector for what follows, as ``tsunagu serve`` settles it
    once the app is built (chat/runtime.py), and let the set-up be collected again
    afterwards. Otherwise every full collection walks the whole seeded city, which a
    node never holds."""
    settle_garbage_collector()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def database(kind: str) -> Iterator[tuple[str, Path]]:
    """A fresh, migrated database (``sqlite`` or ``postgres``: a dedicated
    ``bench_<random>`` database, dropped afterwards) and a var dir."""
    var_dir = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    try:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{var_dir / 'tsunagu.db'}"
            upgrade(url)
            yield url, var_dir
        else:
            url = asyncio.run(_create_postgres())
            try:
                upgrade(url)
                yield url, var_dir
            finally:
                asyncio.run(_drop_postgres(url))
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def seeded_cities(only: str | None) -> Iterator[tuple[str, City]]:
    """The in-process cost benchmarks' city (14 departments of 50) on a fresh database of
    each kind, or of ``only``: (kind, city), the database dropped after each."""
    for kind in ([only] if only else ["sqlite", "postgres"]):
        with database(kind) as (url, var_dir):
            city = City(url, var_dir)
            seed(city, {f"P{i:02d}": 50 for i in range(14)})
            yield kind, city


def _pg_dsn(url: str, database: str) -> str:
    parsed = make_url(url)
    auth = parsed.username or "postgres"
    if parsed.password:
        auth += f":{parsed.password}"
    return f"postgresql://{auth}@{parsed.host or '127.0.0.1'}:{parsed.port or 5432}/{database}"


async def _create_postgres() -> str:
    import asyncpg  # type: ignore[import-untyped]

    name = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_pg_dsn(POSTGRES_BASE, make_url(POSTGRES_BASE).database
                                         or "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 '
                           "ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'")
        # BENCH_PG_SETTINGS="log_min_duration_statement=0;plan_cache_mode=auto": settings
        # of the bench database alone (the server's log shows each statement's parse,
        # bind and execute), for an investigation that must not touch other databases.
        for setting in filter(None, os.environ.get("BENCH_PG_SETTINGS", "").split(";")):
            await conn.execute(f'ALTER DATABASE "{name}" SET {setting}')
    finally:
        await conn.close()
    return make_url(POSTGRES_BASE).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres(url: str) -> None:
    import asyncpg

    name = make_url(url).database
    assert name and name.startswith("bench_")
    conn = await asyncpg.connect(_pg_dsn(url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def seed(city: City, departments: dict[str, int], *, managers: int = 1) -> None:
    """Import ``departments`` (code -> head count, flat under the city) and their staff
    with the real org-chart actions: everyone joins their department's channel and the
    all-staff channel. The first ``managers`` people of each department are managers
    (only they may post to the all-staff announcement channel)."""
    dept_rows = [DepartmentRow(code=code, name=f"ベンチ{code}課", kana="べんち",
                               parent_code=None, level="ka") for code in departments]
    staff_rows: list[StaffRow] = []
    n = 100000
    for code, count in departments.items():
        for i in range(count):
            n += 1
            role = Role.MANAGER if i < managers else Role.STAFF
            staff_rows.append(StaffRow(staff_number=str(n), name=f"職員 {n}",
                                       kana="しょくいん", department_code=code, role=role,
                                       extension=None, active=True))
            city.people.append(Person(staff_number=str(n), department_code=code,
                                      role=role))

    async def run() -> None:
        async with open_context(city.settings()) as ctx:
            await import_departments(ctx, dept_rows, by="bench")
            # In slices: one import transaction per slice keeps memory and locks short.
            for start in range(0, len(staff_rows), 2000):
                await import_staff(ctx, staff_rows[start:start + 2000], by="bench")
            async with ctx.db.session(write=False) as session:
                from sqlalchemy import select

                from chat.store.models import Channel, Department, User
                users = dict((await session.execute(
                    select(User.staff_number, User.id))).tuples().all())
                depts = dict((await session.execute(
                    select(Department.id, Department.code))).tuples().all())
                for channel in (await session.scalars(select(Channel))).all():
                    if channel.slug == ALL_STAFF_SLUG:
                        city.all_staff_channel = channel.id
                    elif channel.department_id in depts:
                        city.department_channel[depts[channel.department_id]] = channel.id
        for person in city.people:
            person.user_id = users[person.staff_number]
            person.channels = [city.department_channel[person.department_code],
                               city.all_staff_channel]

    asyncio.run(run())


async def sign_in_all(city: City, people: list[Person], *, base_url: str,
                      concurrency: int = 8) -> float:
    """The real session flow for each person: an enrollment code (the action an admin's
    `tsunagu device enroll` runs), then over HTTP the device enrollment with a software
    passkey and the passkey sign-in with DPoP, as a phone does. Returns seconds taken."""
    import time

    from chat.actions.devices import create_enrollment
    from chat.client import DeviceKey, SoftwareAuthenticator, TsunaguClient

    started = time.perf_counter()
    port = urlsplit(base_url).port
    origin = f"http://localhost:{port}"
    async with open_context(city.settings()) as ctx:
        codes = []
        for person in people:
            ticket = await create_enrollment(ctx, staff_number=person.staff_number,
                                             label="ベンチ端末", created_by="bench")
            codes.append(ticket.code)
    gate = asyncio.Semaphore(concurrency)

    async def one(person: Person, code: str) -> None:
        async with gate:
            key = DeviceKey.generate()
            async with TsunaguClient(base_url, key, origin=origin,
                                     authenticator=SoftwareAuthenticator("localhost", origin),
                                     ws_url=base_url.replace("http", "ws", 1) + "/ws"
                                     ) as client:
                await client.enroll(code)
                await client.sign_in()
                person.token, person.key_pem = client.token, key.to_pem()

    await asyncio.gather(*(one(p, c) for p, c in zip(people, codes, strict=True)))
    return time.perf_counter() - started


async def mint_sessions(city: City, people: list[Person]) -> float:
    """Sessions bound to a generated device key, made by the same code a passkey sign-in
    runs (``chat.auth.sessions.new_session``), many per transaction: the set-up of tens
    of thousands of connections, where the ceremonies would take minutes. Each connection
    still authenticates with the token and a DPoP proof from its key."""
    import time

    from chat.auth.sessions import PASSKEY_SESSION_KIND, new_session
    from chat.client import DeviceKey
    from chat.store.uow import unit_of_work

    started = time.perf_counter()
    async with open_context(city.settings()) as ctx:
        for start in range(0, len(people), 1000):
            batch = people[start:start + 1000]
            async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
                for person in batch:
                    key = DeviceKey.generate()
                    token, _ = new_session(ctx, uow, user_id=person.user_id,
                                           kind=PASSKEY_SESSION_KIND, jkt=key.jkt)
                    person.token, person.key_pem = token, key.to_pem()
    return time.perf_counter() - started


def signed_in_city(url: str, var_dir: Path, departments: dict[str, int], *,
                   say: Callable[[str], None], label: str) -> City:
    """A city of ``departments`` seeded on ``url``, every person with a minted session:
    what each load scenario connects with. Says how long it took."""
    import time

    city = City(url, var_dir)
    started = time.perf_counter()
    seed(city, departments)
    minted = asyncio.run(mint_sessions(city, city.people))
    say(f"  {label} {len(city.people)} staff seeded and sessions minted in "
        f"{time.perf_counter() - started:.1f}s ({minted:.1f}s minting)")
    return city
