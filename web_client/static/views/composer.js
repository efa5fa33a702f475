// The composer: Enter sends (Shift+Enter, or the IME's own Enter while composing kana,
// makes a new line), typing is announced, @名前 becomes a mention, and 返信 shows what
// is being answered above it. In a channel the person may not post in (an announcement
// channel, for staff: the channel list's may_post, docs/protocol.md) there is no composer,
// only a quiet line saying the channel is read-only.

import { excerpt, nameOf } from "../format.js";
import { t } from "../i18n.js";
import { mentionsIn } from "../selectors.js";

const $ = (id) => document.getElementById(id);

/** Answer `m` with the next message (null: answer nothing). */
export function setReply(state, m) {
  if (!state) return;
  state.replyTo = m;
  $("reply-bar").hidden = !m;
  $("reply-text").textContent = m ? t("chat.replying", { name: nameOf(state.users, m.sender_id), text: excerpt(m) }) : "";
}

/** The channel may take my messages: false only when the server said may_post: false. */
export function mayPost(state, channelId = state.current) {
  const channel = state.channels.get(channelId);
  return !channel || channel.may_post !== false;
}

/** The composer, or the read-only line, for the channel just opened. */
export function showComposerFor(state) {
  const open = mayPost(state);
  $("composer").hidden = !open;
  $("read-only-note").hidden = open;
  if (!open) { $("photo-bar").hidden = true; setReply(state, null); }
}

export function setUp(app) {
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const state = app.state;
    const input = $("body");
    const text = input.value;
    if (!state || !state.me || !text.trim() || !state.current || !mayPost(state)) return;
    const fields = { channel_id: state.current, body: text };
    if (state.replyTo) fields.reply_to = state.replyTo.id;
    const mentions = mentionsIn(state, text);
    if (mentions.length) fields.mentions = mentions;
    input.value = "";
    setReply(state, null);
    app.queueMessage(fields).catch(app.showError);
  });
  $("body").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("body").addEventListener("input", () => {
    if (app.state && app.state.current) app.send({ type: "typing", channel_id: app.state.current });
  });
  $("reply-cancel").addEventListener("click", () => setReply(app.state, null));
}
