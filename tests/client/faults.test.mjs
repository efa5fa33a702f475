// How the page answers server faults (web_client/static/faults.js, docs/protocol.md#faults):
// a send the server could not store for now stays queued and goes again after a growing,
// jittered wait from the server's hint; a refusal stays a refusal.
//   node --test tests/client/

import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_RETRY_MS, resendDelay, restartDelay, sendFailed } from "../../web_client/static/faults.js";
import { addPending, createState, reduce } from "../../web_client/static/store.js";

const FAULT = { type: "error", code: "storage_unavailable", ref: "c1", message: "later",
                message_ja: "後で再送します", retry_after_ms: 2000 };
const middle = () => 0.5;   // no jitter: the base wait itself

test("the first resend waits the server's hint, each further fault doubles it, up to the cap", () => {
  assert.equal(resendDelay(FAULT, 1, middle), 2000);
  assert.equal(resendDelay(FAULT, 2, middle), 4000);
  assert.equal(resendDelay(FAULT, 3, middle), 8000);
  assert.equal(resendDelay(FAULT, 20, middle), MAX_RETRY_MS);
  assert.equal(resendDelay({ ...FAULT, retry_after_ms: undefined }, 1, middle), 2000);
});

test("the wait is jittered by a quarter either way, never zero", () => {
  assert.equal(resendDelay(FAULT, 1, () => 0), 1500);
  assert.equal(resendDelay(FAULT, 1, () => 0.999999), 2500);
  assert.ok(resendDelay({ ...FAULT, retry_after_ms: 0 }, 1, () => 0) > 0);
});

test("a storage fault keeps the message queued and asks for a resend, the notice once", () => {
  const state = createState();
  addPending(state, { client_id: "c1", channel_id: 1, body: "こんにちは" });
  const first = reduce(state, FAULT);
  assert.equal(state.pending.get("c1").state, "queued");
  assert.deepEqual(first.map((e) => e.kind), ["pending", "resendLater", "error"]);
  assert.equal(first[1].attempt, 1);
  assert.ok(!first.some((e) => e.kind === "forget"), "the outbox keeps it");
  const second = reduce(state, FAULT);
  assert.deepEqual(second.map((e) => e.kind), ["pending", "resendLater"]);
  assert.equal(second[1].attempt, 2);
});

test("a refusal marks the message failed and lets the outbox go, as before", () => {
  const pending = { item: {}, state: "sending", error: null };
  const refusal = { type: "error", code: "not_a_member", ref: "c2", message: "no" };
  assert.deepEqual(sendFailed(pending, refusal).map((e) => e.kind), ["pending", "forget", "error"]);
  assert.equal(pending.state, "failed");
  const limited = { ...refusal, code: "rate_limited" };
  assert.deepEqual(sendFailed(pending, limited).map((e) => e.kind), ["pending", "error"]);
});

test("after close 1012 the page comes back soon, jittered, whatever the backoff was", () => {
  assert.equal(restartDelay(null, () => 0), 250);
  assert.equal(restartDelay(null, () => 1), 750);
  assert.equal(restartDelay({ retry_after_ms: 1000 }, () => 0.5), 1000);
  assert.ok(restartDelay({ retry_after_ms: 600000 }, () => 1) <= 7500);
});
