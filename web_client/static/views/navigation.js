// The tabs (トーク, 検索, 電話帳, 設定), the back button, and which view is on screen.

import { t } from "../i18n.js";

const $ = (id) => document.getElementById(id);

/** Show `view`; `onShown(view)` redraws what that view shows from the state. */
export function showView(state, view) {
  state.view = view;
  $("chat").dataset.view = view;
  for (const b of document.querySelectorAll(".tabs button")) {
    if (b.dataset.view === view || (view === "conversation" && b.dataset.view === "chats")) {
      b.setAttribute("aria-current", "page");
    } else b.removeAttribute("aria-current");
  }
  $("back-button").hidden = view !== "conversation";
  $("app-title").textContent = view === "conversation" ? "" : t(`nav.${view === "chats" ? "chats" : view}`);
}

export function setUp(app) {
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => app.setView(b.dataset.view));
  }
  $("back-button").addEventListener("click", () => app.setView("chats"));
}
