// A missed call (to a person or to a desk-group phone; the body names the desk), with a
// count when repeated calls collapsed into one card.

import { t } from "../i18n.js";
import { fillNotice } from "./notice.js";

export function fill(li, m, ui) {
  const count = (m.data || {}).count;
  fillNotice(li, m, ui, `📞 ${t("card.missed")}` + (count > 1 ? ` ×${count}` : ""));
}
