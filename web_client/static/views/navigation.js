// The tabs (トーク, 検索, 電話帳, 設定), the back button, and which view is on screen.

import { t } from "../i18n.js";

const $ = (id) => document.getElementById(id);

let brand = "つなぐ";     // the header's title when no view is on screen (the page's own h1)

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

/** Signed out (even from inside a conversation): no ‹, the app's own title. */
export function reset() {
  $("back-button").hidden = true;
  $("app-title").textContent = brand;
  $("chat").dataset.view = "chats";
}

export function setUp(app) {
  brand = $("app-title").textContent || brand;
  for (const b of document.querySelectorAll(".tabs button")) {
    b.addEventListener("click", () => app.setView(b.dataset.view));
  }
  $("back-button").addEventListener("click", () => app.setView("chats"));
}
