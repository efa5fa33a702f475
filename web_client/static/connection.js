// The websocket, owned in one place: hello -> auth (a DPoP proof over the server's
// nonce) -> ready, the heartbeat, reconnecting with exponential backoff and jitter, and
// the phone's online/offline events. What a frame means is the store's business; when a
// conversation must resync after a reconnect or a gap, the store says so (store.js,
// `resyncFrame`) and the frame goes out through `send` here.
//
// Nothing is wired at import: `openConnection` starts one, `close()` ends it for good.
// The socket class, timers and randomness can be passed in, so this runs under Node too.

import { restartDelay } from "./faults.js";

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15000;

/** The wait before reconnect attempt with `backoff`: ±25% jitter, so a whole city hall
 * does not reconnect at the same instant after a restart. */
export function reconnectDelay(backoff, random = Math.random) {
  return backoff * (0.75 + random() / 2);
}

/** The backoff after one more failed attempt (doubling, capped). */
export function nextBackoff(backoff) {
  return Math.min(backoff * 2, MAX_BACKOFF_MS);
}

/**
 * Open the connection and keep it open until `close()`. Options:
 *   url: () => the websocket URL; authFrame: async (nonce) => the auth frame;
 *   closeCodes: the server's CLOSE_CODES (constants.js);
 *   onFrame(frame): every frame after hello (ready included, after the connection is live);
 *   onStatus("online" | "reconnecting"): for the header;
 *   onDown(): the socket closed (whatever was being sent may be lost);
 *   onEnded(reason, errorFrame|null): the server ended it for good, no reconnect:
 *     "session_ended" (4002), "off_hours" (4003), "auth_failed" (1008 before ready).
 * Close 1012 (the node restarts or drains, after answering what it had) reconnects after a
 * short jittered wait (faults.js `restartDelay`, from its `server.restarting` hint), to
 * whichever node the load balancer picks, without growing the backoff.
 * Returns {send(frame) -> bool (false: not connected, nothing sent), connected(), close()}.
 */
export function openConnection({
  url, authFrame, closeCodes, onFrame, onStatus, onDown, onEnded,
  WebSocketClass = globalThis.WebSocket, random = Math.random,
  timers = globalThis, events = globalThis,
}) {
  let ws = null;
  let ready = false;
  let closed = false;
  let backoff = FIRST_BACKOFF_MS;
  let reconnectTimer = null;
  let heartbeat = null;

  const connected = () => Boolean(!closed && ready && ws && ws.readyState === WebSocketClass.OPEN);
  const send = (frame) => {
    if (!connected()) return false;
    ws.send(JSON.stringify(frame));
    return true;
  };

  function connect() {
    timers.clearTimeout(reconnectTimer);
    const socket = new WebSocketClass(url());
    let lastError = null;
    let restarting = null;
    ws = socket;
    ready = false;
    socket.addEventListener("message", async (ev) => {
      if (closed || ws !== socket) return;
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      if (f.type === "hello") {
        // The server's nonce for this connection: prove the device key over it.
        try {
          socket.send(JSON.stringify(await authFrame(f.dpop_nonce)));
        } catch (error) {
          console.warn("auth frame:", error);
          socket.close(1000, "no device key");
        }
        return;
      }
      if (f.type === "error") lastError = f;
      if (f.type === "server.restarting") restarting = f;
      if (f.type === "ready") {
        ready = true;
        backoff = FIRST_BACKOFF_MS;
        timers.clearInterval(heartbeat);
        heartbeat = timers.setInterval(() => send({ type: "ping" }), (f.heartbeat_seconds || 30) * 1000);
        onStatus("online");
      }
      onFrame(f);
    });
    socket.addEventListener("close", (ev) => {
      if (closed || ws !== socket) return;    // closed by us, or replaced
      const wasReady = ready;
      ready = false;
      timers.clearInterval(heartbeat);
      onStatus("reconnecting");
      onDown();
      if (ev.code === closeCodes.SESSION_ENDED) { onEnded("session_ended", lastError); return; }
      if (ev.code === closeCodes.OFF_HOURS) { onEnded("off_hours", lastError); return; }
      if (ev.code === closeCodes.POLICY && !wasReady) { onEnded("auth_failed", lastError); return; }
      if (ev.code === closeCodes.SERVICE_RESTART) {
        backoff = FIRST_BACKOFF_MS;
        reconnectTimer = timers.setTimeout(connect, restartDelay(restarting, random));
        return;
      }
      reconnectTimer = timers.setTimeout(connect, reconnectDelay(backoff, random));
      backoff = nextBackoff(backoff);
    });
  }

  // Offline (the phone says so): the socket is as good as dead; what is typed now waits in
  // the outbox, shown as not sent yet, instead of vanishing into a dead connection.
  const onOffline = () => { if (ws) ws.close(4100, "offline"); };
  // Back online: do not wait for the backoff timer.
  const onOnline = () => {
    if (!connected() && ws && ws.readyState !== WebSocketClass.CONNECTING) {
      backoff = FIRST_BACKOFF_MS;
      connect();
    }
  };
  events.addEventListener("offline", onOffline);
  events.addEventListener("online", onOnline);
  connect();

  return {
    send,
    connected,
    close() {
      if (closed) return;
      closed = true;
      timers.clearTimeout(reconnectTimer);
      timers.clearInterval(heartbeat);
      events.removeEventListener("offline", onOffline);
      events.removeEventListener("online", onOnline);
      if (ws) ws.close(1000, "signed out");
    },
  };
}
