// What the views read from the state: org-chart order, presence, 既読, mentions, unread.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  departmentDepth, matchingPeople, mentionsIn, noticeOffers, orgOrder, presenceOf, readCount,
  readerSections, totalUnread,
} from "../../web_client/static/selectors.js";
import { createState } from "../../web_client/static/store.js";

function city() {
  const state = createState();
  state.me = { id: 1, name: "鈴木 一郎" };
  for (const d of [{ id: 1, parent_id: null, sort_order: 2, name: "市民部" },
                   { id: 2, parent_id: null, sort_order: 1, name: "総務部" },
                   { id: 3, parent_id: 2, sort_order: 2, name: "人事課" },
                   { id: 4, parent_id: 2, sort_order: 1, name: "総務課" },
                   { id: 5, parent_id: 4, sort_order: 1, name: "文書係" }]) state.departments.set(d.id, d);
  return state;
}

test("department channels follow the org chart: 部 by sort order, each followed by its 課 and 係", () => {
  const state = city();
  const channels = [1, 3, 5, 4, 2].map((id) => ({ id: 100 + id, department_id: id }));
  channels.push({ id: 999, department_id: 42 });         // a department this page does not know
  assert.deepEqual(orgOrder(state, channels).map((c) => c.department_id), [2, 4, 5, 3, 1, 42]);
  assert.deepEqual([2, 4, 5].map((id) => departmentDepth(state, id)), [0, 1, 2]);
});

test("a call outranks being online", () => {
  const state = city();
  state.online.add(2);
  state.online.add(3);
  state.calls.set(3, "on_call");
  assert.equal(presenceOf(state, 2), "online");
  assert.equal(presenceOf(state, 3), "on_call");
  assert.equal(presenceOf(state, 4), null);
});

test("既読 counts others who read up to the message, never its sender", () => {
  const state = city();
  state.readPositions = new Map([[1, 9], [2, 5], [3, 4]]);
  assert.equal(readCount(state, { seq: 5, sender_id: 1 }), 1);
  assert.equal(readCount(state, { seq: 4, sender_id: 2 }), 2);
});

test("@name and @family-name mention others, never me", () => {
  const state = city();
  for (const u of [{ id: 1, name: "鈴木 一郎" }, { id: 2, name: "田中 花子" }, { id: 3, name: "佐藤 健" }]) {
    state.users.set(u.id, u);
  }
  assert.deepEqual(mentionsIn(state, "@田中 さん、@鈴木 一郎 と @佐藤 健 へ"), [2, 3]);
  assert.deepEqual(mentionsIn(state, "no at sign"), []);
});

test("the unread total leaves out the open channel", () => {
  const state = city();
  state.channels.set(1, { id: 1, unread: 3 });
  state.channels.set(2, { id: 2, unread: 4 });
  state.current = 2;
  assert.equal(totalUnread(state), 3);
});

test("the directory filter matches name, kana, extension or department", () => {
  const people = [{ id: 1, name: "田中 花子", kana: "たなか はなこ", extension: "4101", department: "総務課" },
                  { id: 2, name: "佐藤 健", kana: "さとう けん", extension: "4200", department: "人事課" }];
  assert.deepEqual(matchingPeople(people, "たなか").map((u) => u.id), [1]);
  assert.deepEqual(matchingPeople(people, "42").map((u) => u.id), [2]);
  assert.deepEqual(matchingPeople(people, " 人事 ").map((u) => u.id), [2]);
  assert.deepEqual(matchingPeople(people, "").map((u) => u.id), [1, 2]);
  assert.deepEqual(matchingPeople(people, "4101", ["name", "kana", "department"]), []);
});

// Issue 25: what a notice card offers, and a group chat's reader list.
const NOTICE = { OPEN: "open", CLAIMED: "claimed", DONE: "done" };
const caller = { tel: "tel:+81312345678", display: "03-1234-5678" };

test("once someone claims a notice, the others lose the green 折り返す and 対応済み", () => {
  const open = { state: "open", caller };
  assert.deepEqual(noticeOffers(open, 1, NOTICE), { call: true, claim: true, done: true });
  const claimed = { state: "claimed", caller, claimed_by: { id: 2, name: "田中 美咲" } };
  assert.deepEqual(noticeOffers(claimed, 1, NOTICE), { call: false, claim: false, done: false });
  assert.deepEqual(noticeOffers(claimed, 2, NOTICE), { call: true, claim: false, done: true });
  const done = { state: "done", caller, done_by: { id: 2, name: "田中 美咲" } };
  assert.deepEqual(noticeOffers(done, 2, NOTICE), { call: false, claim: false, done: false });
  assert.equal(noticeOffers(open, 1, NOTICE, true).call, false);            // purged: no number
  assert.equal(noticeOffers({ state: "open", caller: { tel: null } }, 1, NOTICE).call, false);
});

test("a group chat's reader list has no 確認済み（0）; an announcement's keeps it", () => {
  const readers = { confirmed: [], read: [{ id: 2, name: "田中 美咲" }], unread: [] };
  assert.deepEqual(readerSections(readers, false).map((s) => s.key), ["read", "unread"]);
  assert.deepEqual(readerSections(readers, true).map((s) => s.key), ["confirmed", "read", "unread"]);
  const confirmed = { ...readers, confirmed: [{ id: 2, name: "田中 美咲" }] };
  assert.equal(readerSections(confirmed, false)[0].people.length, 1);
});
