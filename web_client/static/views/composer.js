// The composer: Enter sends (Shift+Enter, or the IME's own Enter while composing kana,
// makes a new line), typing is announced, @名前 becomes a mention, and 返信 shows what
// is being answered above it.

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

export function setUp(app) {
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const state = app.state;
    const input = $("body");
    const text = input.value;
    if (!state || !state.me || !text.trim() || !state.current) return;
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
