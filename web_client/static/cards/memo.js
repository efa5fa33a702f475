// A phone memo (伝言メモ) an operator took for someone away from the desk.

import { t } from "../i18n.js";
import { fillNotice } from "./notice.js";

export function fill(li, m, ui) {
  fillNotice(li, m, ui, `📝 ${t("card.memo")}`);
}
