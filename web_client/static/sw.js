// The service worker: keeps the app shell for a quick start on a flaky network, and shows
// Web Push notifications while the page is closed. It never caches API answers or
// messages (they are records, and may be revoked with the device).

// SHELL (the cache name, a digest of the shell) and SHELL_FILES (every file of the app
// shell) are written in front of this file by chat/web/pages.py from the static folder
// as deployed: nothing here lists modules by hand.

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
    // An urgent broadcast (緊急放送) says so: it stays until touched, vibrates, and has a
    // tag of its own (a repeat replaces it, not the channel's other notifications).
    await self.registration.showNotification(data.title || "つなぐ", {
      body: data.body || "",
      tag: data.tag || (data.channel_id ? `channel-${data.channel_id}` : undefined),
      requireInteraction: data.require_interaction === true,
      vibrate: Array.isArray(data.vibrate) ? data.vibrate : undefined,
      renotify: Boolean(data.tag),
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
