// The service worker: keeps the app shell for a quick start on a flaky network, and shows
// Web Push notifications while the page is closed. It never caches API answers or
// messages (they are records, and may be revoked with the device).

const SHELL = "tsunagu-shell-v2";
const SHELL_FILES = [
  "/", "/static/style.css", "/static/icon.svg", "/static/constants.js",
  "/static/main.js", "/static/chat.js", "/static/connection.js", "/static/store.js",
  "/static/selectors.js", "/static/sending.js", "/static/render.js", "/static/format.js",
  "/static/linkify.js", "/static/outbox.js", "/static/push.js", "/static/session.js",
  "/static/device.js", "/static/webauthn.js", "/static/i18n.js",
  "/static/cards/index.js", "/static/cards/bubble.js", "/static/cards/text.js",
  "/static/cards/photo.js", "/static/cards/notice.js", "/static/cards/missed_call.js",
  "/static/cards/memo.js",
  "/static/views/channel_list.js", "/static/views/composer.js", "/static/views/conversation.js",
  "/static/views/conversation_head.js", "/static/views/directory.js", "/static/views/group_form.js",
  "/static/views/memo_form.js", "/static/views/message_actions.js", "/static/views/navigation.js",
  "/static/views/photos.js", "/static/views/presence.js", "/static/views/search.js",
  "/static/views/settings.js", "/static/views/sheets.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// The shell: network first (a deploy shows at once), the cached copy when offline.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  if (!(url.pathname === "/" || url.pathname.startsWith("/static/"))) return;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(SHELL).then((cache) => cache.put(event.request, copy));
    }
    return response;
  }).catch(() => caches.match(event.request)));
});

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { title: "つなぐ", body: event.data.text() }; }
  event.waitUntil((async () => {
    // An open, visible page shows the message itself: no notification on top of it.
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    if (windows.some((w) => w.visibilityState === "visible")) return;
    await self.registration.showNotification(data.title || "つなぐ", {
      body: data.body || "", tag: data.channel_id ? `channel-${data.channel_id}` : undefined,
      data: { url: data.url || "/" }, icon: "/static/icon-192.png", badge: "/static/icon-192.png",
    });
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const w of windows) if ("focus" in w) return w.focus();
    return self.clients.openWindow(url);
  })());
});
