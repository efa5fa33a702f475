// The HQ board's state: reports loaded, arriving live (once), revised, filtered, and
// the positions the map shows.
//   node --test tests/client/

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  boardLoaded, createBoard, markers, missingPositions, positionsLoaded, reportReceived,
  visibleReports,
} from "../../web_client/static/reports/board_state.js";

const HQ = 50;

function report(id, fields = {}) {
  return { id, channel_id: HQ, kind: "report", seq: id, version: id, sender_id: 7,
           body: "被害報告", created_at: "2026-12-07T01:00:00Z",
           data: { category: "flood", severity: 3, status: "new", has_position: true, ...fields } };
}

function loaded(entries = []) {
  const board = createBoard();
  boardLoaded(board, { disaster: { id: 1, name: "訓練", drill: true, hq_channel_id: HQ },
                       reports: entries });
  return board;
}

test("a report arriving live is added once, and asks for its position once", () => {
  const board = loaded();
  assert.deepEqual(reportReceived(board, report(1)), { redraw: true, fetchPosition: true });
  assert.deepEqual(missingPositions(board), [1]);
  positionsLoaded(board, [{ message_id: 1, lat: 35.1, lon: 139.2, accuracy_m: 10 }]);
  assert.deepEqual(reportReceived(board, report(1)), { redraw: true, fetchPosition: false });
  assert.equal(board.reports.size, 1);
  assert.deepEqual(markers(board).map((m) => [m.report.message_id, m.lat, m.lon]), [[1, 35.1, 139.2]]);
});

test("other channels, other kinds and an unloaded board are ignored", () => {
  const board = loaded();
  assert.equal(reportReceived(board, { ...report(2), channel_id: 99 }).redraw, false);
  assert.equal(reportReceived(board, { ...report(3), kind: "text" }).redraw, false);
  assert.equal(reportReceived(createBoard(), report(4)).redraw, false);
  assert.equal(board.reports.size, 0);
});

test("a status change replaces the entry; filters combine; newest first", () => {
  const board = loaded([{ message_id: 1, channel_id: HQ, category: "fire", severity: 2, status: "new", has_position: false },
                        { message_id: 2, channel_id: HQ, category: "road", severity: 1, status: "new", has_position: false }]);
  assert.deepEqual(visibleReports(board).map((r) => r.message_id), [2, 1]);
  reportReceived(board, report(1, { category: "fire", severity: 2, status: "in_progress", has_position: false }));
  board.filters.status = "in_progress";
  assert.deepEqual(visibleReports(board).map((r) => r.message_id), [1]);
  board.filters = { category: "road", severity: "1", status: "" };
  assert.deepEqual(visibleReports(board).map((r) => r.message_id), [2]);
  board.filters = { category: "", severity: "3", status: "" };
  assert.deepEqual(visibleReports(board), []);
});

test("reports without a position are listed but not on the map; a deleted one goes", () => {
  const board = loaded();
  reportReceived(board, report(5, { has_position: false }));
  assert.deepEqual(missingPositions(board), []);
  assert.equal(visibleReports(board).length, 1);
  assert.equal(markers(board).length, 0);
  reportReceived(board, { ...report(5), deleted_at: "2026-12-07T02:00:00Z" });
  assert.equal(visibleReports(board).length, 0);
});
