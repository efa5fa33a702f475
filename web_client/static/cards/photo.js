// A photo: the bubble with a thumbnail (fetched with a DPoP proof: ui.loadPhoto) that
// opens the full view on tap, and the place it was taken when the sender shared it.

import { t } from "../i18n.js";
import { fillBubble } from "./bubble.js";

export function fill(li, m, ui) {
  const extra = [];
  if (m.attachment && !m.deleted_at && !m.purged_at) {
    const img = document.createElement("img");
    img.className = "photo";
    img.alt = t("photo.alt");
    img.width = Math.min(m.attachment.width || 320, 320);
    img.addEventListener("click", () => ui.onOpenPhoto(m));
    extra.push(img);
    ui.loadPhoto(m, img);
    if (m.attachment.location) {
      const where = document.createElement("a");
      where.className = "location";
      const { lat, lon } = m.attachment.location;
      where.href = `geo:${lat},${lon}`;
      where.textContent = `📍 ${Number(lat).toFixed(5)}, ${Number(lon).toFixed(5)}`;
      extra.push(where);
    }
  }
  fillBubble(li, m, ui, extra);
}
