// The connection without a browser: a fake socket class, fake timers and a fixed random,
// so hello -> auth -> ready, backoff and the server's final closes are checked directly.

import assert from "node:assert/strict";
import { test } from "node:test";

import { nextBackoff, openConnection, reconnectDelay } from "../../web_client/static/connection.js";

const CLOSE_CODES = { NORMAL: 1000, POLICY: 1008, SESSION_ENDED: 4002, OFF_HOURS: 4003,
                      SERVICE_RESTART: 1012 };

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.OPEN;
    this.sent = [];
    this.listeners = {};
    FakeSocket.made.push(this);
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  send(data) { this.sent.push(JSON.parse(data)); }
  close(code) { this.closedWith = code; }
  async receive(frame) { for (const fn of this.listeners.message || []) await fn({ data: JSON.stringify(frame) }); }
  drop(code) { this.readyState = 3; for (const fn of this.listeners.close || []) fn({ code }); }
}

function fakeTimers() {
  const timers = { timeouts: [], intervals: [] };
  timers.setTimeout = (fn, ms) => { timers.timeouts.push({ fn, ms }); return timers.timeouts.length; };
  timers.clearTimeout = () => {};
  timers.setInterval = (fn, ms) => { timers.intervals.push({ fn, ms }); return -timers.intervals.length; };
  timers.clearInterval = () => {};
  return timers;
}

function open(overrides = {}) {
  FakeSocket.made = [];
  const seen = { frames: [], status: [], ended: [], downs: 0 };
  const timers = fakeTimers();
  const connection = openConnection({
    url: () => "ws://city.test/ws", authFrame: async (nonce) => ({ type: "auth", proof: `proof-of-${nonce}` }),
    closeCodes: CLOSE_CODES,
    onFrame: (f) => seen.frames.push(f.type), onStatus: (s) => seen.status.push(s),
    onDown: () => { seen.downs += 1; }, onEnded: (reason, frame) => seen.ended.push([reason, frame && frame.code]),
    WebSocketClass: FakeSocket, random: () => 0.5, timers, events: new EventTarget(), ...overrides,
  });
  return { connection, seen, timers, socket: () => FakeSocket.made.at(-1) };
}

test("hello is answered with the auth frame over the server's nonce; ready makes it live", async () => {
  const { connection, seen, timers, socket } = open();
  await socket().receive({ type: "hello", dpop_nonce: "n-1" });
  assert.deepEqual(socket().sent, [{ type: "auth", proof: "proof-of-n-1" }]);
  assert.equal(connection.send({ type: "ping" }), false, "nothing goes out before ready");
  await socket().receive({ type: "ready", heartbeat_seconds: 20 });
  assert.deepEqual(seen.frames, ["ready"]);
  assert.deepEqual(seen.status, ["online"]);
  assert.equal(timers.intervals[0].ms, 20000);
  assert.equal(connection.send({ type: "typing", channel_id: 1 }), true);
});

test("a dropped connection reconnects after a doubling, capped, jittered backoff", async () => {
  const { seen, timers, socket } = open();
  socket().drop(1006);
  assert.deepEqual(seen.status, ["reconnecting"]);
  assert.equal(seen.downs, 1);
  assert.equal(timers.timeouts[0].ms, 500);
  timers.timeouts[0].fn();
  socket().drop(1006);
  assert.equal(timers.timeouts[1].ms, 1000);
  assert.equal(FakeSocket.made.length, 2);
  assert.equal(reconnectDelay(1000, () => 0), 750);
  assert.equal(reconnectDelay(1000, () => 1), 1250);
  assert.equal(nextBackoff(12000), 15000);
});

test("ready resets the backoff", async () => {
  const { timers, socket } = open();
  socket().drop(1006);
  timers.timeouts[0].fn();
  await socket().receive({ type: "ready" });
  socket().drop(1006);
  assert.equal(timers.timeouts[1].ms, 500);
});

test("the server's final closes end the chat instead of reconnecting", async () => {
  for (const [code, reason] of [[4002, "session_ended"], [4003, "off_hours"], [1008, "auth_failed"]]) {
    const { seen, timers, socket } = open();
    await socket().receive({ type: "error", code: "why", message: "because" });
    socket().drop(code);
    assert.deepEqual(seen.ended, [[reason, "why"]]);
    assert.equal(timers.timeouts.length, 0);
  }
});

test("close 1012 (the node restarts) reconnects soon from the server's hint, backoff reset", async () => {
  const { seen, timers, socket } = open();
  socket().drop(1006);                      // the backoff has grown meanwhile
  timers.timeouts[0].fn();
  socket().drop(1006);
  timers.timeouts[1].fn();
  await socket().receive({ type: "ready" });
  await socket().receive({ type: "server.restarting", retry_after_ms: 400 });
  socket().drop(1012);
  assert.deepEqual(seen.ended, []);
  assert.equal(timers.timeouts[2].ms, 400, "the hint, jittered (random 0.5: exactly)");
  timers.timeouts[2].fn();
  socket().drop(1006);
  assert.equal(timers.timeouts[3].ms, 500, "the next failure starts the backoff afresh");
});

test("a policy close after ready is a reconnect, not a refused sign-in", async () => {
  const { seen, timers, socket } = open();
  await socket().receive({ type: "ready" });
  socket().drop(1008);
  assert.deepEqual(seen.ended, []);
  assert.equal(timers.timeouts.length, 1);
});

test("offline closes the socket at once; online reconnects without waiting", () => {
  const events = new EventTarget();
  const { timers, socket } = open({ events });
  const first = socket();
  events.dispatchEvent(new Event("offline"));
  assert.equal(first.closedWith, 4100);
  first.drop(4100);
  events.dispatchEvent(new Event("online"));
  assert.equal(FakeSocket.made.length, 2);
  assert.equal(timers.timeouts.length, 1, "the backoff timer is not what reconnected");
});

test("close() ends it for good: no reconnect, frames after it ignored", async () => {
  const { connection, seen, timers, socket } = open();
  connection.close();
  assert.equal(socket().closedWith, 1000);
  socket().drop(1000);
  await socket().receive({ type: "ready" });
  assert.deepEqual(seen.frames, []);
  assert.equal(timers.timeouts.length, 0);
});
