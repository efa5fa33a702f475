// A field report (被害報告) in the HQ channel: what, how bad, the note, who saw it when,
// its status and who set it; the HQ board (views/hq_board.js) is where it is followed up.

import { formatTime } from "../format.js";
import { t } from "../i18n.js";
import { fillBubble } from "./bubble.js";

export function fill(li, m, ui) {
  li.classList.add("card", "report-card");
  const card = m.data || {};
  const extra = [];
  if (card.category && !m.deleted_at && !m.purged_at) {
    const title = document.createElement("span");
    title.className = "card-title";
    title.textContent = `${card.drill ? t("report.drill") : ""}📋 ${t(`report.cat.${card.category}`)}・${t(`report.sev.${card.severity}`)}`;
    const status = document.createElement("span");
    status.className = "claimed";
    status.textContent = card.status_by
      ? t("report.status_by", { status: t(`report.status.${card.status}`), name: card.status_by.name, time: formatTime(card.status_at) })
      : t(`report.status.${card.status}`);
    extra.push(title, status);
    if (card.photos && card.photos.length) {
      const photos = document.createElement("span");
      photos.className = "meta";
      photos.textContent = `📷 ${t("report.photo_count", { n: card.photos.length })}`;
      extra.push(photos);
    }
  }
  fillBubble(li, m, ui, extra);
}
