"""A small demo city: an org chart, a dozen staff, and a few conversations.

Seeded through the same actions as a real import, so the demo exercises real code.
"""

from __future__ import annotations

from chat.actions.channels import create_group, open_direct
from chat.actions.messages import send_message
from chat.actions.orgchart import ImportReport, import_departments, import_staff
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.imports import StaffRow, parse_departments, parse_staff
from chat.store.uow import TxMode, unit_of_work

DEPARTMENTS_CSV = """code,name,kana,parent_code,level
100,総務部,そうむぶ,,部
110,総務課,そうむか,100,課
111,庶務係,しょむかかり,110,係
112,人事係,じんじかかり,110,係
120,危機管理課,ききかんりか,100,課
121,防災係,ぼうさいかかり,120,係
200,市民部,しみんぶ,,部
210,市民課,しみんか,200,課
211,住民記録係,じゅうみんきろくかかり,210,係
300,建設部,けんせつぶ,,部
310,道路課,どうろか,300,課
311,維持係,いじかかり,310,係
"""

STAFF_CSV = """staff_number,name,kana,department_code,role,extension,active
1001,佐藤 一郎,さとう いちろう,100,manager,2001,1
1002,鈴木 花子,すずき はなこ,111,staff,2101,1
1003,高橋 健,たかはし けん,112,staff,2102,1
1004,田中 美咲,たなか みさき,121,staff,2201,1
1005,伊藤 大輔,いとう だいすけ,120,manager,2200,1
1006,渡辺 さくら,わたなべ さくら,211,staff,3101,1
1007,山本 翔太,やまもと しょうた,210,manager,3100,1
1008,中村 由美,なかむら ゆみ,311,staff,4101,1
1009,小林 誠,こばやし まこと,310,manager,4100,1
1010,加藤 恵,かとう めぐみ,111,operator,0,1
1011,吉田 修,よしだ おさむ,111,auditor,2109,1
1012,山田 太郎,やまだ たろう,110,admin,2100,1
"""


def demo_staff() -> list[StaffRow]:
    """The demo city's people as ``seed_demo`` imports them (the tests name them from here,
    so this roster is the one place their staff numbers are written)."""
    codes = {d.code for d in parse_departments(DEPARTMENTS_CSV)}
    return parse_staff(STAFF_CSV, known_departments=codes)


async def seed_demo(ctx: AppContext) -> tuple[ImportReport, ImportReport]:
    """Seed the demo city. Call only on an empty database (see ``tsunagu seed-demo``)."""
    depts = await import_departments(ctx, parse_departments(DEPARTMENTS_CSV), by="demo seed")
    staff = await import_staff(ctx, demo_staff(), by="demo seed")
    people = await _principals(ctx)
    sato, suzuki, tanaka, ito = (people[n] for n in ("1001", "1002", "1004", "1005"))
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        bousai = await uow.departments.by_code("120")
        assert bousai is not None
        crisis = await uow.channels.for_department(bousai.id)
        all_staff = await uow.channels.by_slug("all-staff")
        assert crisis is not None and all_staff is not None
    await send_message(ctx, actor=ito, channel_id=crisis.id, client_id="seed-1",
                       body="来週の防災訓練の資料を共有フォルダに置きました。")
    await send_message(ctx, actor=tanaka, channel_id=crisis.id, client_id="seed-2",
                       body="確認しました。避難所の鍵の受け取りは私が行きます。")
    await send_message(ctx, actor=sato, channel_id=all_staff.id, client_id="seed-3",
                       body="【全庁】12月1日(火) 9時から防災訓練を実施します。")
    group = await create_group(ctx, actor=suzuki, name="忘年会幹事",
                               member_ids=[tanaka.user_id, people["1006"].user_id])
    await send_message(ctx, actor=suzuki, channel_id=group["id"], client_id="seed-4",
                       body="会場の候補を3つ挙げました。ご意見ください。")
    direct = await open_direct(ctx, actor=suzuki, other_user_id=tanaka.user_id)
    await send_message(ctx, actor=suzuki, channel_id=direct["id"], client_id="seed-5",
                       body="田中さん、午後の会議は14時からです。")
    return depts, staff


async def _principals(ctx: AppContext) -> dict[str, Principal]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return {u.staff_number: Principal(user_id=u.id, session_id=0, role=u.role,
                                          name=u.name, department_id=u.department_id)
                for u in await uow.users.all()}
