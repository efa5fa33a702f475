// The bottom sheet (never a browser dialog): long-press actions, stamps, forms and
// read lists all open in it. Also the photo viewer's Escape.

const $ = (id) => document.getElementById(id);

export function sheetButton(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

export function openSheet(title, children) {
  $("sheet-title").textContent = title;
  $("sheet-content").replaceChildren(...children);
  $("sheet").hidden = false;
  const first = $("sheet-content").querySelector("button, input, textarea, select");
  (first || $("sheet-close")).focus();
}

export function closeSheet() {
  $("sheet").hidden = true;
  $("sheet-content").replaceChildren();
}

/** Close by the button, a tap outside, or Escape (which closes the photo viewer too). */
export function setUp() {
  $("sheet-close").addEventListener("click", closeSheet);
  $("sheet").addEventListener("click", (ev) => { if (ev.target === $("sheet")) closeSheet(); });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { closeSheet(); $("viewer").hidden = true; }
  });
}
