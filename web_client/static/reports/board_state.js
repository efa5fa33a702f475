// The HQ board's state (pure: no DOM, no network; node --test tests/client/): the
// reports of the disaster as GET /api/reports gave them, kept current by the HQ
// channel's `message` and `message.updated` frames, the filters, and the positions read
// (through the audited GET /api/reports/positions) for the map.

/** A fresh board: nothing loaded. */
export function createBoard() {
  return {
    disaster: null,                 // {id, name, drill, hq_channel_id}
    reports: new Map(),             // message id -> board entry
    positions: new Map(),           // message id -> {lat, lon, accuracy_m}
    filters: { category: "", severity: "", status: "" },
    loaded: false,
  };
}

/** A report's board entry from its message (the card is `message.data`). */
export function entryOf(message) {
  return { message_id: message.id, channel_id: message.channel_id,
           created_at: message.created_at, ...(message.data || {}) };
}

/** GET /api/reports answered: the board holds exactly those reports. */
export function boardLoaded(board, page) {
  board.disaster = page.disaster;
  board.reports = new Map(page.reports.map((r) => [r.message_id, r]));
  board.loaded = true;
}

/**
 * A `message` or `message.updated` frame's message, if it is a report of this board's
 * HQ: added or replaced (a resend never doubles it: entries are keyed by message id).
 * Returns what the view must do: {redraw, fetchPosition} (the position is read only
 * for a report that has one and is not known yet).
 */
export function reportReceived(board, message) {
  if (message.kind !== "report" || !board.loaded) return { redraw: false, fetchPosition: false };
  if (board.disaster && message.channel_id !== board.disaster.hq_channel_id) {
    return { redraw: false, fetchPosition: false };
  }
  const gone = message.deleted_at || message.purged_at;
  if (gone) {
    board.reports.delete(message.id);
    board.positions.delete(message.id);
    return { redraw: true, fetchPosition: false };
  }
  const entry = entryOf(message);
  board.reports.set(message.id, entry);
  return { redraw: true, fetchPosition: Boolean(entry.has_position) && !board.positions.has(message.id) };
}

/** GET /api/reports/positions answered. */
export function positionsLoaded(board, positions) {
  for (const p of positions) board.positions.set(p.message_id, { lat: p.lat, lon: p.lon, accuracy_m: p.accuracy_m });
}

/** The ids of reports that have a position not read yet (what the map asks for). */
export function missingPositions(board) {
  return [...board.reports.values()]
    .filter((r) => r.has_position && !board.positions.has(r.message_id))
    .map((r) => r.message_id);
}

/** The reports the filters let through, newest first. */
export function visibleReports(board) {
  const { category, severity, status } = board.filters;
  return [...board.reports.values()]
    .filter((r) => (!category || r.category === category)
      && (!severity || r.severity === Number(severity))
      && (!status || r.status === status))
    .sort((a, b) => b.message_id - a.message_id);
}

/** The map's markers: the visible reports that have a position read. */
export function markers(board) {
  return visibleReports(board)
    .filter((r) => board.positions.has(r.message_id))
    .map((r) => ({ report: r, ...board.positions.get(r.message_id) }));
}
