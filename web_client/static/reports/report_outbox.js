// Field reports waiting to be sent: each is kept in IndexedDB with its photos (as
// Blobs) and the client id it was given when 送信 was tapped, until the server has
// stored it. With no signal it waits; when the signal returns (the `online` event, a
// reconnect, or the next 送信) it goes, photos first, then the report itself. The
// server stores a client id once, so a report sent twice (an answer lost on the way)
// is still one report; a photo already uploaded is not uploaded again.

import { keyedStore } from "../idb.js";
import { ApiError, apiFetch, apiUpload } from "../session.js";

const DB_NAME = "tsunagu-reports";
const STORE = "reports";

let flushing = null;

const run = keyedStore(DB_NAME, STORE);

/** Every report still waiting for `userId`, oldest first. */
export async function waitingReports(userId) {
  const all = (await run("readonly", (store) => store.getAll())) || [];
  return all.filter((r) => r.user_id === userId).sort((a, b) => a.created_at - b.created_at);
}

/** Keep a new report (`fields`: category, severity, note, position, taken_at; `photos`: Blobs). */
export async function queueReport(userId, fields, photos) {
  const item = { client_id: crypto.randomUUID(), user_id: userId, created_at: Date.now(),
                 fields, photos: [...photos], photo_ids: [], error: null };
  await run("readwrite", (store) => store.put(item));
  return item;
}

/** Drop a report the server refused for good (the person chose to). */
export function discardReport(clientId) {
  return run("readwrite", (store) => store.delete(clientId));
}

/**
 * Send what waits, in order; one flush at a time. Stops at the first network failure
 * (still offline: everything stays). A report the server refuses keeps its `error`
 * and stays until discarded. `onChange()` is called after each step.
 */
export function flushReports(userId, onChange = () => {}) {
  if (!flushing) {
    flushing = sendAll(userId, onChange).finally(() => { flushing = null; });
  }
  return flushing;
}

async function sendAll(userId, onChange) {
  for (const item of await waitingReports(userId)) {
    if (item.error) continue;
    try {
      while (item.photo_ids.length < item.photos.length) {
        const answer = await apiUpload("/api/reports/photos", item.photos[item.photo_ids.length]);
        item.photo_ids.push(answer.photo.id);
        await run("readwrite", (store) => store.put(item));
      }
      await apiFetch("/api/cards/report", {
        method: "POST", body: { client_id: item.client_id, ...item.fields, photo_ids: item.photo_ids } });
      await discardReport(item.client_id);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 0 || error.status >= 500
          || error.code === "rate_limited") {
        onChange();
        return;                       // no signal (or the server is busy): try later
      }
      item.error = { code: error.code, message: error.message, message_ja: error.messageJa || null };
      await run("readwrite", (store) => store.put(item));
    }
    onChange();
  }
}
