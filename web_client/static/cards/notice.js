// The card a phone notice shares (a missed call, a phone memo): what happened, when, a
// one-tap callback (tel:), and the claim-and-done flow everyone in the channel sees.
// Each notice kind's view gives only its title.

import { NOTICE_STATES } from "../constants.js";
import { formatTime } from "../format.js";
import { t } from "../i18n.js";
import { noticeOffers } from "../selectors.js";

export function fillNotice(li, m, ui, title) {
  li.classList.add("card");
  const card = m.data || {};
  const parts = [];
  const heading = document.createElement("span");
  heading.className = "card-title";
  heading.textContent = title;
  parts.push(heading);
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = m.purged_at ? t("chat.purged") : m.body;
  parts.push(body);
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${t("card.from_phone")} ${m.created_at ? formatTime(m.created_at) : ""}`;
  parts.push(meta);
  if (card.state === NOTICE_STATES.CLAIMED || card.state === NOTICE_STATES.DONE) {
    const who = document.createElement("span");
    who.className = "claimed";
    who.textContent = card.state === NOTICE_STATES.DONE
      ? t("card.done_by", { name: card.done_by ? card.done_by.name : "" })
      : t("card.claimed_by", { name: card.claimed_by ? card.claimed_by.name : "" });
    parts.push(who);
  }
  const actions = document.createElement("span");
  actions.className = "card-actions";
  const caller = card.caller || {};
  const offers = noticeOffers(card, ui.me.id, NOTICE_STATES, Boolean(m.purged_at));
  if (offers.call) {
    const call = document.createElement("a");
    call.href = caller.tel;
    call.textContent = t("card.callback", { who: caller.name || caller.display || "" });
    actions.append(call);
  }
  if (offers.claim) actions.append(cardButton(t("card.claim"), () => ui.onNoticeAction(m, "claim")));
  if (offers.done) actions.append(cardButton(t("card.done"), () => ui.onNoticeAction(m, "done")));
  parts.push(actions);
  li.replaceChildren(...parts);
}

function cardButton(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}
