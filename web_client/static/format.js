// Times, days and excerpts as staff read them: Japan time, 「今日」「昨日」, a one-line
// summary of a message for lists and quotes. Text only, no DOM.

import { ROLE_LABELS } from "./constants.js";
import { errorMessage, language, t } from "./i18n.js";

const ZONE = "Asia/Tokyo";

export function formatTime(iso) {
  return new Date(iso).toLocaleTimeString(language() === "ja" ? "ja-JP" : "en-GB",
                                          { hour: "2-digit", minute: "2-digit", timeZone: ZONE });
}

/** For the chat list: the time today, otherwise the date. */
export function listTime(iso, now = new Date()) {
  if (dayKey(iso) === dayKey(now.toISOString())) return formatTime(iso);
  const sameYear = dayKey(iso).slice(0, 4) === dayKey(now.toISOString()).slice(0, 4);
  return new Date(iso).toLocaleDateString(language() === "ja" ? "ja-JP" : "en-GB", {
    year: sameYear ? undefined : "numeric", month: "numeric", day: "numeric", timeZone: ZONE });
}

/** 「今日」「昨日」 or the full date with the weekday, in the city's time zone. */
export function formatDay(iso, now = new Date()) {
  const key = dayKey(iso);
  if (key === dayKey(now.toISOString())) return t("day.today");
  if (key === dayKey(new Date(now.getTime() - 86400000).toISOString())) return t("day.yesterday");
  return new Date(iso).toLocaleDateString(language() === "ja" ? "ja-JP" : "en-GB", {
    year: "numeric", month: "long", day: "numeric", weekday: "short", timeZone: ZONE });
}

export function dayKey(iso) {
  return new Date(iso).toLocaleDateString("en-CA", { timeZone: ZONE });
}

/** A short text for lists and quotes: what the message is, without markup. */
export function excerpt(m) {
  if (!m) return "";
  if (m.purged_at) return t("chat.purged");
  if (m.deleted_at) return t("chat.deleted");
  if (m.attachment && !m.body) return t("photo.label");
  return (m.body || "").replace(/\s+/g, " ").slice(0, 80);
}


/** A person's name from the directory, or 「誰か」 for someone this page does not know. */
export function nameOf(users, userId) {
  return (users.get(userId) || {}).name || t("chat.someone");
}

/** A role as people name it (職員, 管理職…), from the server's one table; never `staff`. */
export function roleLabel(role) {
  const labels = ROLE_LABELS[role];
  return labels ? labels[language()] || labels.ja : role;
}

/** What an error says, in the person's language (i18n.js errorMessage: never a raw code). */
export function errorText(error) {
  return errorMessage(error);
}
