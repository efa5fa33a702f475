// A person's text message: the plain bubble (also the view for a kind this client does
// not know yet, and for a message still waiting to be sent).

import { fillBubble } from "./bubble.js";

export function fill(li, m, ui) {
  fillBubble(li, m, ui);
}
