// The chat, put together: one state (store.js), one connection (connection.js), and the
// views (views/) that draw the state and turn taps into frames. A server frame goes
// through the store's reducer; the effects it returns are carried out here, in order.
// Nothing is wired at import: main.js calls setUpChat() once, then startChat() for each
// signed-in session (docs/client.md).

import { CLOSE_CODES } from "./constants.js";
import { openConnection } from "./connection.js";
import { t } from "./i18n.js";
import { forget, flushOutbox, queueMessage, resendLater, retry } from "./sending.js";
import { apiFetch, wsAuthFrame, wsUrl } from "./session.js";
import { connectionLost, createState, leaveChannel, readFrame, reduce } from "./store.js";
import { setConfirmCount } from "./cards/broadcast.js";
import * as broadcastAlert from "./views/broadcast_alert.js";
import * as broadcastForm from "./views/broadcast_form.js";
import * as channelList from "./views/channel_list.js";
import * as composer from "./views/composer.js";
import { loadPins, setUp as setUpConversationHead } from "./views/conversation_head.js";
import * as conversation from "./views/conversation.js";
import * as directory from "./views/directory.js";
import * as disasterView from "./views/disaster.js";
import * as hqBoard from "./views/hq_board.js";
import * as navigation from "./views/navigation.js";
import { clearNotice, showErrorNotice, showNotice } from "./views/notice_region.js";
import * as photos from "./views/photos.js";
import { showStartEntry, tallyArrived } from "./views/rollcall.js";
import { renderHeaderPresence } from "./views/presence.js";
import * as reportForm from "./views/report_form.js";
import * as search from "./views/search.js";
import * as settings from "./views/settings.js";
import { closeSheet, setUp as setUpSheets } from "./views/sheets.js";

const $ = (id) => document.getElementById(id);

let state = null;        // the signed-in session's state; null when signed out
let connection = null;
let handlers = null;     // {onSessionEnded(frame), onOffHours(frame), onAuthFailed(frame)}

/** What the views share: the state, sending, and the moves that span several views. */
const app = {
  get state() { return state; },
  send: (frame) => Boolean(connection) && connection.send(frame),
  dispatch: (frame) => {
    if (!state) return;
    run(reduce(state, frame));
    // The HQ board follows the HQ channel's reports (views/hq_board.js).
    if (frame.message && (frame.type === "message" || frame.type === "message.updated")) {
      hqBoard.messageArrived(app, frame.message);
    }
    // Joined the HQ (a declaration while connected): the 本部 tab may appear.
    if (frame.type === "channel.joined") hqBoard.checkAccess(app).catch(() => {});
  },
  run: (effects) => run(effects),
  showError: (error) => showErrorNotice(error),       // the notice region (views/notice_region.js)
  notify: (text, options) => showNotice(text, options),
  setView,
  setReply: (m) => composer.setReply(state, m),
  openChannel: (id) => conversation.openChannel(app, id),
  openDirect,
  queueMessage: (fields) => queueMessage(app, fields),
  retry: (clientId) => retry(app, clientId),
};

/** Wire the chat's controls (once, before the first startChat). */
export function setUpChat() {
  navigation.setUp(app);
  channelList.setUp(app);
  setUpConversationHead(app);
  composer.setUp(app);
  photos.setUp(app);
  search.setUp(app);
  directory.setUp(app);
  settings.setUp();
  disasterView.setUp(app);
  reportForm.setUp(app);
  hqBoard.setUp(app);
  setUpSheets();
  document.addEventListener("visibilitychange", markRead);
}

/**
 * Open the chat for the signed-in session. `callbacks` are told when the chat has to
 * give way: onSessionEnded(errorFrame|null) on close 4002 (sign in again),
 * onOffHours(errorFrame|null) on close 4003 (the frame's message_ja / message says why),
 * onAuthFailed(errorFrame|null) when the server refused the auth frame (close 1008).
 */
export async function startChat(callbacks) {
  stopChat();
  handlers = callbacks;
  const mine = createState();
  state = mine;
  clearNotice();
  const [dir, depts] = await Promise.all([apiFetch("/api/users?limit=2000"),
                                          apiFetch("/api/departments").catch(() => null)]);
  if (state !== mine) return;            // stopped meanwhile
  for (const u of dir.users) mine.users.set(u.id, u);
  for (const d of (depts && depts.departments) || []) mine.departments.set(d.id, d);
  setView("chats");
  hqBoard.checkAccess(app).catch(() => {});
  connection = openConnection({
    url: wsUrl, authFrame: wsAuthFrame, closeCodes: CLOSE_CODES,
    onFrame: (frame) => app.dispatch(frame),
    onStatus: setConn,
    onDown: () => run(connectionLost(mine)),
    onEnded: (reason, frame) => {
      if (reason === "session_ended") handlers.onSessionEnded(frame);
      else if (reason === "off_hours") handlers.onOffHours(frame);
      else handlers.onAuthFailed(frame);
    },
  });
}

/** Close the socket without reconnecting and clear the screen. */
export function stopChat() {
  if (!state) return;
  state = null;
  if (connection) connection.close();
  connection = null;
  conversation.reset();
  broadcastAlert.closeAll();
  hqBoard.reset();
  for (const id of ["channel-list", "search-results", "directory-list"]) $(id).replaceChildren();
  settings.renderMe(null);
  disasterView.render(null);
  closeSheet();
  navigation.reset();
  setConn("offline");
}

/** Re-render text that depends on the language. */
export function relabelChat() {
  if (!state) return;
  setConn(connection && connection.connected() ? "online" : "offline");
  channelList.render(app);
  conversation.render(app);
  directory.render(app);
  disasterView.render(state);
  reportForm.relabel();
}

/** The signed-in person (after `ready`). */
export function currentUser() {
  return state ? state.me : null;
}

export function setView(view) {
  if (!state) return;
  // Backing out of a conversation closes it: what arrives there now counts as unread.
  if (view !== "conversation" && state.current != null) leaveChannel(state);
  navigation.showView(state, view);
  if (view === "directory") directory.render(app);
  if (view === "chats") channelList.render(app);
  if (view === "report") reportForm.render(app);
  if (view === "board") hqBoard.render(app);
  if (view === "settings") settings.renderAccess();
}

function setConn(mode) {
  $("conn").dataset.state = mode === "online" ? "online" : "offline";
  $("conn").textContent = t(`conn.${mode}`);
}

function markRead() {
  if (!state || document.visibilityState !== "visible") return;
  const frame = readFrame(state);
  if (frame) app.send(frame);
}

async function openDirect(userId) {
  const c = await apiFetch("/api/channels/direct", { method: "POST", body: { user_id: userId } });
  if (!state.channels.has(c.id)) state.channels.set(c.id, { unread: 0, last_message: null, ...c });
  await conversation.openChannel(app, c.id);
}

/** Carry out a reducer's effects (store.js lists them), in order. */
function run(effects) {
  for (const effect of effects) {
    if (!state) return;
    switch (effect.kind) {
      case "channels": channelList.render(app); break;
      case "presence":
        channelList.render(app);
        if (state.view === "directory") directory.render(app);
        renderHeaderPresence(state);
        break;
      case "directory": directory.render(app); break;
      case "me":
        settings.renderMe(state); disasterView.render(state);
        broadcastForm.offer(state.me); broadcastAlert.catchUp(app);
        showStartEntry(app).catch((error) => console.warn("roll call:", error));
        break;
      case "append": conversation.append(app, effect.message); break;
      case "update": conversation.update(app, effect.message); break;
      case "readCounts": conversation.renderReadCounts(app); break;
      case "typing": conversation.showTyping(app, effect.userId); break;
      case "pins": loadPins(app); break;
      case "pending": conversation.drawPending(app, effect.clientId); break;
      case "settled": conversation.dropPending(effect.clientId); forget(effect.clientId); break;
      case "forget": forget(effect.clientId); break;
      case "resendLater": resendLater(app, effect.clientId, effect.frame, effect.attempt); break;
      case "send": app.send(effect.frame); break;
      case "markRead": markRead(); break;
      case "flushOutbox":
        flushOutbox(app).catch((error) => console.warn("outbox:", error));
        reportForm.sendWaiting(app);
        break;
      case "mention":
        showNotice(t("chat.mentioned", {
          name: (state.users.get(effect.message.sender_id) || {}).name || "" }));
        break;
      case "error":
        showErrorNotice(effect.frame);
        break;
      case "broadcast": broadcastAlert.showBroadcast(app, effect.message, effect.repeat); break;
      case "confirmCount": setConfirmCount(effect.messageId, effect.count); break;
      case "disaster": disasterView.render(state); hqBoard.checkAccess(app).catch(() => {}); break;
      case "rollcallTally": tallyArrived(app, effect.id); break;
      default: console.warn("unknown effect", effect);
    }
  }
}
