// The card views, keyed by message kind: the one place the client decides how a kind
// looks. A new kind is one view module (exporting `fill(li, message, ui)`) and one line
// here; tests/unit/test_client_constants.py checks that every kind the server has is here.

import { MESSAGE_KINDS } from "../constants.js";
import * as memo from "./memo.js";
import * as missedCall from "./missed_call.js";
import * as photo from "./photo.js";
import * as report from "./report.js";
import * as rollcall from "./rollcall.js";
import * as text from "./text.js";
import * as broadcast from "./broadcast.js";

export const CARD_VIEWS = Object.freeze({
  [MESSAGE_KINDS.TEXT]: text,
  [MESSAGE_KINDS.PHOTO]: photo,
  [MESSAGE_KINDS.MISSED_CALL]: missedCall,
  [MESSAGE_KINDS.MEMO]: memo,
  [MESSAGE_KINDS.BROADCAST]: broadcast,
  [MESSAGE_KINDS.REPORT]: report,
  [MESSAGE_KINDS.ROLLCALL]: rollcall,
});

/** The view for `kind`; the plain bubble for a message not stored yet or a kind unknown here. */
export function cardView(kind) {
  return Object.hasOwn(CARD_VIEWS, kind) ? CARD_VIEWS[kind] : text;
}
