// The admin console in the browser. Sessions are device-bound (docs/security.md): every
// request must carry a DPoP proof signed by this PC's device key, which a link click or a
// form post cannot do. So the server sends a shell on navigation, and this module loads
// every page with fetch() and a proof, swaps the server-rendered HTML into the shell, and
// does the same for link clicks (history.pushState) and form submits. The key, the proofs
// and sign-in are the chat page's own modules (device.js, session.js), imported, not copied.

import { dpopProof, getDeviceKey, getEnrollment } from "/static/device.js";
import { freshNonce, getAth, hasSession, latestNonceSeen, noteNonce, signIn } from "/static/session.js";

const $ = (id) => document.getElementById(id);
const main = $("console");
const TITLE = document.title;
const LOCATION_HEADER = "X-Console-Location";

let refreshTimer = null;
let generation = 0;   // a newer navigation wins over a slower older one

/**
 * fetch() with a proof for `url`: the session's ath, the latest nonce, one retry on a
 * 401 use_dpop_nonce. Resolves with the Response, or null when this browser holds no
 * key or session (the caller offers sign-in).
 */
async function proven(url, { method = "GET", body } = {}) {
  const key = await getDeviceKey();
  if (!key || !hasSession()) return null;
  const absolute = new URL(url, location.origin).href;
  for (let attempt = 0; ; attempt++) {
    const headers = {
      Accept: "text/html",
      // The chat page's nonce (session.js): fetched ahead, so no 401 on the way.
      DPoP: await dpopProof(key, method, absolute, {
        nonce: attempt === 0 ? await freshNonce() : latestNonceSeen(), ath: getAth(),
      }),
    };
    const response = await fetch(absolute, {
      method, headers, body, credentials: "same-origin", cache: "no-store", redirect: "error",
    });
    noteNonce(response);
    const challenge = response.headers.get("WWW-Authenticate") || "";
    if (attempt === 0 && response.status === 401 && /use_dpop_nonce/.test(challenge)) continue;
    return response;
  }
}

function setError(text) {
  $("console-error").textContent = text || "";
}

async function offerSignIn() {
  const [key, enrollment] = await Promise.all([getDeviceKey(), getEnrollment()]);
  main.replaceChildren();
  main.setAttribute("aria-busy", "false");
  $("signin").hidden = false;
  $("signin-button").hidden = !(key && enrollment);
  $("not-enrolled").hidden = Boolean(key && enrollment);
}

/** Put a page's HTML into the shell; `url` is what it stands for in the history. */
async function show(response, url, { push }) {
  if (response === null || response.status === 401) {
    await offerSignIn();
    return;
  }
  const html = await response.text();
  const parsed = new DOMParser().parseFromString(html, "text/html");
  $("signin").hidden = true;
  setError("");
  main.replaceChildren(...parsed.body.childNodes);
  main.setAttribute("aria-busy", "false");
  main.dataset.status = String(response.status);
  const root = main.querySelector("[data-lang]");
  if (root) document.documentElement.lang = root.dataset.lang;
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} — ${TITLE}` : TITLE;
  const target = response.headers.get(LOCATION_HEADER) || url;
  if (push) history.pushState(null, "", target);
  else if (target !== location.pathname + location.search) history.replaceState(null, "", target);
  scheduleRefresh();
  mountHqMap().catch((error) => { console.error(error); setError(error.message || String(error)); });
}

// The HQ map on the board page (reports.html with ?map=1): the client's own map module and
// board state, the positions read through the API the 本部 tab uses, which audits the read.
async function mountHqMap() {
  const box = main.querySelector("#console-hq-map");
  if (!box) return;
  const [{ createMap }, board, { apiFetch }] = await Promise.all([
    import("/static/views/hq_map.js"), import("/static/reports/board_state.js"),
    import("/static/session.js")]);
  const state = board.createBoard();
  board.boardLoaded(state, await apiFetch("/api/reports"));
  const ids = board.missingPositions(state);
  if (ids.length) {
    const answer = await apiFetch(`/api/reports/positions?ids=${ids.join(",")}`);
    board.positionsLoaded(state, answer.positions);
  }
  const map = await createMap(box, await apiFetch("/api/reports/map"));
  map.show(board.markers(state));
  box.dataset.markers = String(board.markers(state).length);
}

// A page that is still changing (an export, a verify run) asks to be loaded again.
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const live = main.querySelector("[data-refresh-ms]");
  if (!live) return;
  const url = location.pathname + location.search;
  const every = Number(live.dataset.refreshMs) || 1000;
  const again = () => {
    if (location.pathname + location.search !== url) return;
    // Someone is choosing in a form (a report's status): come back rather than undo it.
    const focused = document.activeElement;
    if (focused && main.contains(focused) && focused.closest("form")) {
      refreshTimer = setTimeout(again, every);
      return;
    }
    navigate(url, { push: false });
  };
  refreshTimer = setTimeout(again, every);
}

async function navigate(url, { push }) {
  const mine = ++generation;
  clearTimeout(refreshTimer);
  main.setAttribute("aria-busy", "true");
  try {
    const response = await proven(url);
    if (mine === generation) await show(response, url, { push });
  } catch (error) {
    console.error(error);
    setError($("console-error").dataset.network);
  }
}

async function submit(form, submitter) {
  const action = new URL(form.getAttribute("action") || location.href, location.href);
  const data = new FormData(form, submitter);
  if ((form.getAttribute("method") || "get").toLowerCase() === "get") {
    const params = new URLSearchParams();
    for (const [name, value] of data) if (typeof value === "string" && value !== "") params.append(name, value);
    const query = params.toString();
    await navigate(action.pathname + (query ? `?${query}` : ""), { push: true });
    return;
  }
  const body = form.enctype === "multipart/form-data" ? data : new URLSearchParams(data);
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  const mine = ++generation;
  try {
    const response = await proven(action.pathname, { method: "POST", body });
    if (mine === generation) await show(response, action.pathname, { push: true });
  } catch (error) {
    console.error(error);
    setError($("console-error").dataset.network);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/** A file behind a proof (an export): fetch it, then hand the browser a blob to save. */
async function download(link) {
  try {
    const response = await proven(link.getAttribute("href"));
    if (response === null || response.status === 401) { await offerSignIn(); return; }
    if (!response.ok) { setError(`${response.status} ${response.statusText}`); return; }
    const href = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = href;
    save.download = link.dataset.download || "download";
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60_000);
  } catch (error) {
    console.error(error);
    setError($("console-error").dataset.network);
  }
}

function consoleUrl(link) {
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/admin")) return null;
  if (url.pathname.startsWith("/admin/static/")) return null;
  return url.pathname + url.search;
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 ||
      event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (link.dataset.download !== undefined) {
    event.preventDefault();
    download(link);
    return;
  }
  const url = consoleUrl(link);
  if (url === null) return;
  event.preventDefault();
  navigate(url, { push: true });
});

document.addEventListener("submit", (event) => {
  event.preventDefault();
  submit(event.target, event.submitter);
});

window.addEventListener("popstate", () => {
  navigate(location.pathname + location.search, { push: false });
});

$("signin-button").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  $("signin-error").textContent = "";
  try {
    await signIn();
    await navigate(location.pathname + location.search, { push: false });
  } catch (error) {
    $("signin-error").textContent = error.message || String(error);
  } finally {
    button.disabled = false;
  }
});

navigate(location.pathname + location.search, { push: false });
