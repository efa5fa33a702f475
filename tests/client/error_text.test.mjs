// What an error says on a Japanese screen (issue 25): the server's message_ja, else our
// Japanese text for the code, else a Japanese generic line; never the raw code or the
// server's English sentence. English only for someone who chose English.
//   node --test tests/client/

import assert from "node:assert/strict";
import { test } from "node:test";

let chosen = "ja";
globalThis.localStorage = { getItem: () => chosen, setItem: (_, value) => { chosen = value; } };
const { errorMessage, errorTexts } = await import("../../web_client/static/i18n.js");

const READ_ONLY = { type: "error", code: "read_only_channel",
                    message: "Only managers and admins may post in this channel" };

test("a refusal the dictionary knows is said in Japanese, without its code", () => {
  const text = errorMessage(READ_ONLY);
  assert.match(text, /閲覧のみ/);
  assert.doesNotMatch(text, /read_only_channel|Only managers/);
});

test("the server's own Japanese comes first (the off-hours policy says why)", () => {
  assert.equal(errorMessage({ code: "off_hours", message: "Outside working hours",
                              message_ja: "勤務時間外のため利用できません。" }),
               "勤務時間外のため利用できません。");
  assert.equal(errorMessage({ code: "off_hours", message: "Outside", messageJa: "時間外です" }), "時間外です");
});

test("an unknown code with an English sentence becomes a Japanese generic line", () => {
  const text = errorMessage({ code: "something_new", message: "Something new went wrong" });
  assert.match(text, /もう一度お試しください/);
  assert.doesNotMatch(text, /something|Something/);
  assert.match(errorTexts({ code: "something_new", message: "x" })[0], /もう一度お試しください/);
});
