// Disaster mode on the phone: the banner at the top of every screen while a disaster or a
// drill (訓練) is declared (red for a disaster; a drill's is striped and says 【訓練】
// plainly, so nobody takes it for the real thing), and, on 設定, 「災害・訓練を宣言」 for
// those who may declare (crisis staff and admins): name, drill (on by default: drills
// are the common case), a confirmation, and 「終了」 while one is active.

import { DISASTER_DECLARERS } from "../constants.js";
import { showError, t } from "../i18n.js";
import { apiFetch } from "../session.js";

const $ = (id) => document.getElementById(id);

let app = null;
let confirming = null;      // {name, drill} waiting for 「宣言する」, or "end"

/** Draw the banner and the settings panel for `state` (null: signed out, nothing). */
export function render(state) {
  const disaster = state ? state.disaster : null;
  const banner = $("disaster-banner");
  banner.hidden = !disaster;
  if (disaster) {
    banner.dataset.drill = disaster.drill ? "on" : "off";
    $("disaster-banner-title").textContent = disaster.title;
    $("disaster-banner-note").textContent = t(disaster.drill ? "disaster.banner_drill"
                                                             : "disaster.banner_real");
  }
  const me = state && state.me;
  $("disaster-panel").hidden = !(me && DISASTER_DECLARERS.includes(me.role));
  $("disaster-current").textContent = disaster
    ? t("disaster.current", { title: disaster.title }) : t("disaster.none");
  $("disaster-form").hidden = Boolean(disaster);
  $("disaster-end").hidden = !disaster;
  drawConfirmation();
}

function drawConfirmation() {
  const box = $("disaster-confirm");
  box.hidden = !confirming;
  if (!confirming) return;
  $("disaster-confirm-text").textContent = confirming === "end"
    ? t("disaster.confirm_end", { title: (app.state && app.state.disaster || {}).title || "" })
    : t(confirming.drill ? "disaster.confirm_drill" : "disaster.confirm_real",
        { name: confirming.name });
  $("disaster-confirm-yes").textContent = t(confirming === "end" ? "disaster.end" : "disaster.declare");
}

async function carryOut() {
  const what = confirming;
  const button = $("disaster-confirm-yes");
  button.disabled = true;
  try {
    const answer = what === "end"
      ? await apiFetch("/api/disaster/end", { method: "POST" })
      : await apiFetch("/api/disaster", { method: "POST", body: what });
    confirming = null;
    $("disaster-name").value = "";
    // The frame follows on the socket; draw now so the tap is answered at once.
    app.dispatch({ type: "disaster.changed", disaster: answer.disaster || null,
                   ended: answer.ended || null });
  } catch (error) {
    showError($("disaster-error"), error);
  } finally {
    button.disabled = false;
    if (app.state) render(app.state);
  }
}

/** Wire the settings panel's controls (once). */
export function setUp(appRef) {
  app = appRef;
  $("disaster-drill").checked = true;
  $("disaster-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    showError($("disaster-error"), null);
    const name = $("disaster-name").value.trim();
    if (!name) { $("disaster-name").focus(); return; }
    confirming = { name, drill: $("disaster-drill").checked };
    drawConfirmation();
  });
  $("disaster-end").addEventListener("click", () => {
    showError($("disaster-error"), null);
    confirming = "end";
    drawConfirmation();
  });
  $("disaster-confirm-yes").addEventListener("click", () => { carryOut(); });
  $("disaster-confirm-no").addEventListener("click", () => {
    confirming = null;
    drawConfirmation();
  });
}
