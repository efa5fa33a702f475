// 設定 (and the header's name): who is signed in, and Web Push on or off. Language and
// sign-out are the page's (main.js), as they work signed out too.

import { showError, t } from "../i18n.js";
import { disablePush, enablePush, pushState } from "../push.js";

const $ = (id) => document.getElementById(id);

let pushOn = false;

/** The signed-in person, in the header and on 設定; empty when signed out. */
export function renderMe(state) {
  const me = state && state.me;
  $("me").textContent = me ? me.name : "";
  if (me) $("settings-me").textContent = t("settings.me", { name: me.name, role: me.role });
}

export async function showPushState() {
  const now = await pushState();
  pushOn = now === "on";
  $("push-status").textContent = t(`push.${now}`);
  $("push-button").textContent = t(pushOn ? "push.disable" : "push.enable");
  $("push-button").disabled = now === "unsupported" || now === "denied";
}

export function setUp() {
  $("push-button").addEventListener("click", async () => {
    try {
      if (pushOn) await disablePush(); else await enablePush();
    } catch (error) {
      showError($("chat-error"), error);
    }
    await showPushState();
  });
}
