// A safety roll call's card (安否確認) in the all-staff channel: four big buttons (one tap
// answers), an optional note and 「位置を添付」 (the position is read only on that tap);
// once answered it shows the answer and lets you change it. HQ also gets 「集計を見る」.
// What a tap does is the view's (views/rollcall.js, through `ui.rollcall`).

import { ROLLCALL_STATUSES } from "../constants.js";
import { formatTime } from "../format.js";
import { t } from "../i18n.js";

export function fill(li, m, ui) {
  li.classList.add("card", "rollcall-card");
  const card = m.data || {};
  const heading = document.createElement("span");
  heading.className = "card-title";
  heading.textContent = `🆘 ${card.title || t("rollcall.title")}`;
  if (card.drill) heading.classList.add("drill");
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = m.purged_at || m.deleted_at ? t("chat.purged") : (card.text || m.body);
  const parts = [heading, body];
  if (card.deadline) parts.push(line("meta", t("rollcall.deadline", { time: formatTime(card.deadline) })));
  if (card.rollcall_id == null || m.purged_at || m.deleted_at || !ui.rollcall) {
    li.replaceChildren(...parts);
    return;
  }
  const id = card.rollcall_id;
  li.dataset.rollcallId = id;
  const redraw = () => fill(li, m, ui);
  const known = ui.rollcall.of(id);
  if (!known) {
    parts.push(line("meta", t("rollcall.loading")));
    li.replaceChildren(...parts);
    ui.rollcall.load(id, redraw);
    return;
  }
  if (known.rollcall.ended_at) parts.push(line("claimed", t("rollcall.ended")));
  if (known.mine && !known.editing) {
    const mine = line("rollcall-mine", t("rollcall.mine", {
      label: t(`rollcall.status.${known.mine.status}`), time: formatTime(known.mine.answered_at) }));
    parts.push(mine);
    if (known.mine.note) parts.push(line("meta", known.mine.note));
    if (known.mine.position) parts.push(line("meta", t("rollcall.position_sent")));
    if (!known.rollcall.ended_at) {
      parts.push(actions([button(t("rollcall.change"), () => ui.rollcall.edit(id, redraw))]));
    }
  } else if (!known.rollcall.ended_at) {
    const choices = document.createElement("span");
    choices.className = "rollcall-choices";
    const note = document.createElement("input");
    note.type = "text";
    note.maxLength = 200;
    note.className = "rollcall-note";
    note.placeholder = t("rollcall.note");
    note.value = known.draftNote || (known.mine ? known.mine.note : "");
    note.addEventListener("input", () => { known.draftNote = note.value; });
    for (const status of Object.values(ROLLCALL_STATUSES)) {
      const b = button(t(`rollcall.status.${status}`), () =>
        ui.rollcall.answer(id, status, note.value, redraw));
      b.dataset.status = status;
      choices.append(b);
    }
    const where = button(known.position
      ? t("rollcall.position_attached", { m: Math.round(known.position.accuracy || 0) })
      : t("rollcall.attach_position"), () => ui.rollcall.attachPosition(id, redraw));
    where.className = "rollcall-position";
    if (known.position) where.setAttribute("aria-pressed", "true");
    parts.push(choices, note, actions([where]));
  }
  if (known.may_manage) {
    parts.push(actions([button(t("rollcall.open_tally"), () => ui.rollcall.openTally(id))]));
  }
  li.replaceChildren(...parts);
}

function line(className, text) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

function actions(children) {
  const span = document.createElement("span");
  span.className = "card-actions";
  span.append(...children);
  return span;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}
