// Message text on screen: always text nodes, never HTML. URLs (http/https only) and
// phone numbers become links built with the DOM API; @名前 mentions are highlighted.
// Anything else — markup, javascript: URLs — stays inert text.

const URL_RE = /\bhttps?:\/\/[^\s<>"'（）「」、。]+/g;

/** Fill `el` with `text`, links made clickable safely; `mentionNames` are highlighted. */
export function renderText(el, text, mentionNames = []) {
  el.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    appendPlain(el, text.slice(last, match.index), mentionNames);
    el.append(link(match[0]));
    last = match.index + match[0].length;
  }
  appendPlain(el, text.slice(last), mentionNames);
}

function link(raw) {
  // Trailing punctuation belongs to the sentence, not the URL.
  const url = raw.replace(/[.,!?;:)\]]+$/, "");
  const a = document.createElement("a");
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("scheme");
    a.href = parsed.href;
  } catch {
    return document.createTextNode(raw);
  }
  a.textContent = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  const frag = document.createDocumentFragment();
  frag.append(a);
  if (url.length < raw.length) frag.append(raw.slice(url.length));
  return frag;
}

function appendPlain(el, text, mentionNames) {
  if (!text) return;
  const names = mentionNames.filter(Boolean).map((n) => `@${n}`);
  if (!names.length) { el.append(text); return; }
  let rest = text;
  while (rest) {
    let best = -1;
    let name = "";
    for (const n of names) {
      const i = rest.indexOf(n);
      if (i >= 0 && (best < 0 || i < best)) { best = i; name = n; }
    }
    if (best < 0) { el.append(rest); return; }
    el.append(rest.slice(0, best));
    const mark = document.createElement("span");
    mark.className = "mention";
    mark.textContent = name;
    el.append(mark);
    rest = rest.slice(best + name.length);
  }
}
