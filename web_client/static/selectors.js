// What the views read from the state, derived: presence, 既読 counts, the org-chart
// order of department channels, mentions in a typed text. Pure, like store.js.

/** "on_call" | "ringing" | "online" | null: a call outranks being online. */
export function presenceOf(state, userId) {
  return state.calls.get(userId) || (state.online.has(userId) ? "online" : null);
}

/** How many others have read message `m` (its 既読 count). */
export function readCount(state, m) {
  let readers = 0;
  for (const [user, seq] of state.readPositions) if (user !== m.sender_id && seq >= m.seq) readers++;
  return readers;
}

/** How deep a department sits under the top of the org chart (部 0, 課 1, 係 2...). */
export function departmentDepth(state, id) {
  let depth = 0;
  let d = state.departments.get(id);
  while (d && d.parent_id != null && depth < 5) { depth += 1; d = state.departments.get(d.parent_id); }
  return depth;
}

/** Department channels in org-chart order (部 → 課 → 係, each level by sort order). */
export function orgOrder(state, channels) {
  const byDept = new Map(channels.filter((c) => c.department_id != null).map((c) => [c.department_id, c]));
  const children = new Map();
  for (const d of state.departments.values()) {
    const key = d.parent_id ?? 0;
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(d);
  }
  const out = [];
  const walk = (parent) => {
    for (const d of (children.get(parent) || []).sort((a, b) => a.sort_order - b.sort_order || a.id - b.id)) {
      if (byDept.has(d.id)) { out.push(byDept.get(d.id)); byDept.delete(d.id); }
      walk(d.id);
    }
  };
  walk(0);
  return [...out, ...byDept.values()];
}

function lastActivity(c) {
  return c.last_message ? Date.parse(c.last_message.created_at) : 0;
}

/** The channels of one kind in list order: departments by org chart, others newest first. */
export function channelsOfKind(state, kind, { byOrgChart = false } = {}) {
  const items = [...state.channels.values()].filter((c) => c.kind === kind);
  return byOrgChart ? orgOrder(state, items) : items.sort((a, b) => lastActivity(b) - lastActivity(a));
}

/** The unread total shown on the トーク tab (the open channel counts as read). */
export function totalUnread(state) {
  let total = 0;
  for (const c of state.channels.values()) if (c.id !== state.current) total += c.unread || 0;
  return total;
}

/** @名前 of people in the text → their user ids (at most 50). */
export function mentionsIn(state, text) {
  if (!text.includes("@")) return [];
  const ids = [];
  for (const u of state.users.values()) {
    if (u.id !== state.me.id && (text.includes(`@${u.name}`) || text.includes(`@${u.name.split(" ")[0]}`))) ids.push(u.id);
  }
  return ids.slice(0, 50);
}

/** The people whose names match a directory filter (name, kana, extension, department). */
export function matchingPeople(people, query, fields = ["name", "kana", "extension", "department"]) {
  const q = query.trim().toLowerCase();
  return people.filter((u) => !q || fields.some((f) => u[f] && String(u[f]).toLowerCase().includes(q)));
}

/**
 * What a notice card (a missed call, a 伝言メモ) offers `meId`: the green one-tap callback,
 * 私が対応します, 対応済みにする. Once someone claims it, only they still see the callback
 * and 対応済み (the others see 「○○さんが対応中」); once done, nobody is asked to call.
 * `states` is constants.js NOTICE_STATES (passed in: this module stays importable in Node).
 */
export function noticeOffers(card, meId, states, purged = false) {
  const open = card.state === states.OPEN;
  const mine = card.state === states.CLAIMED && Boolean(card.claimed_by) && card.claimed_by.id === meId;
  const tel = Boolean(card.caller && card.caller.tel) && !purged;
  return { call: tel && (open || mine), claim: open, done: open || mine };
}

/**
 * A message's reader list as sections [{ key, people }]: 確認済み only where people confirm
 * (an announcement, or someone did), so a group chat's list is 既読 and 未読 alone.
 */
export function readerSections(readers, confirmable) {
  const confirmed = readers.confirmed || [];
  const sections = [];
  if (confirmable || confirmed.length) sections.push({ key: "confirmed", people: confirmed });
  sections.push({ key: "read", people: readers.read || [] }, { key: "unread", people: readers.unread || [] });
  return sections;
}
