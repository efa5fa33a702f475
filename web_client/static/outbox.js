// Messages typed while offline (or not yet acknowledged) wait here, in IndexedDB, with
// the client id they were given when typed. They are sent again on every reconnect; the
// server stores a client id once (a resend is acknowledged as a duplicate), so a message
// is never lost and never doubled, even across a reload.

import { keyedStore } from "./idb.js";

const DB_NAME = "tsunagu-outbox";
const STORE = "outbox";

const run = keyedStore(DB_NAME, STORE);

/** Keep `item` ({client_id, channel_id, body, reply_to?, mentions?, attachment_id?,
 * created_at, user_id}) until it is acknowledged. */
export function put(item) {
  return run("readwrite", (store) => store.put(item));
}

/** Forget an acknowledged (or abandoned) message. */
export function remove(clientId) {
  return run("readwrite", (store) => store.delete(clientId));
}

/** Everything still waiting for `userId`, oldest first. */
export async function pending(userId) {
  const all = (await run("readonly", (store) => store.getAll())) || [];
  return all.filter((m) => m.user_id === userId).sort((a, b) => a.created_at - b.created_at);
}
