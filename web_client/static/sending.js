// Sending, honestly: every typed message is queued first (its client id at once, the
// outbox in IndexedDB), then sent if the socket is open; its bubble says queued, sending
// or failed (with 再送). On every reconnect the whole outbox goes again, in the order
// typed, with the same client ids: the server stores a client id once.

import * as outbox from "./outbox.js";
import { resendDelay } from "./faults.js";
import { addPending, adoptOutbox, sendFrame } from "./store.js";
import { drawPending, showPending } from "./views/conversation.js";

/** Queue a new message (`fields`: channel_id, body, and reply_to / mentions / attachment_id). */
export async function queueMessage(app, fields) {
  const state = app.state;
  const item = { client_id: crypto.randomUUID(), user_id: state.me.id, created_at: Date.now(), ...fields };
  const p = addPending(state, item);
  try { await outbox.put(item); } catch (error) { console.warn("outbox:", error); }
  if (app.state !== state) return p;        // signed out meanwhile: it waits in the outbox
  showPending(app, item.client_id);
  transmit(app, item.client_id);
  return p;
}

function transmit(app, clientId) {
  const p = app.state.pending.get(clientId);
  p.state = app.send(sendFrame(p.item)) ? "sending" : "queued";
  drawPending(app, clientId);
}

/** After `ready`: adopt what an earlier page left in the outbox, then send all but the refused. */
export async function flushOutbox(app) {
  const state = app.state;
  let waiting = [];
  try { waiting = await outbox.pending(state.me.id); } catch (error) { console.warn("outbox:", error); }
  if (app.state !== state) return;
  adoptOutbox(state, waiting);
  for (const item of waiting) showPending(app, item.client_id);
  for (const [clientId, p] of state.pending) if (p.state !== "failed") transmit(app, clientId);
}

/** 再送: a refused message goes again, back in the outbox. */
export function retry(app, clientId) {
  const p = app.state.pending.get(clientId);
  if (!p) return;
  outbox.put(p.item).catch(() => {});
  transmit(app, clientId);
}

/** The server stored it, or refused it for good: the outbox lets it go. */
export function forget(clientId) {
  outbox.remove(clientId).catch(() => {});
}

/** The server could not store it for now (a fault, faults.js): send it again, same client
 * id, after the backoff; a reconnect meanwhile sends it anyway (flushOutbox). */
export function resendLater(app, clientId, frame, attempt, timers = globalThis) {
  const state = app.state;
  timers.setTimeout(() => {
    const p = app.state === state ? state.pending.get(clientId) : null;
    if (p && p.state === "queued") transmit(app, clientId);
  }, resendDelay(frame, attempt));
}
