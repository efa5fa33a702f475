// Web Push (RFC 8030 / VAPID RFC 8292): the service worker shows new messages and missed
// calls while the page is closed. The subscription's endpoint and keys go to the server,
// which encrypts each push for this browser only (RFC 8291); per-channel mute is kept on
// the server, so a muted channel does not wake the phone (a mention still does).

import { apiFetch } from "./session.js";
import { fromBase64url } from "./device.js";

export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** Register the service worker (also what makes the app installable). */
export async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch (error) {
    console.warn("service worker:", error);
    return null;
  }
}

/** "on" | "off" | "denied" | "unsupported". */
export async function pushState() {
  if (!pushSupported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration && await registration.pushManager.getSubscription();
  return subscription ? "on" : "off";
}

/** Ask permission, subscribe with the server's VAPID key, and register the subscription. */
export async function enablePush() {
  if (!pushSupported()) throw new Error("Push is not supported here");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return "denied";
  const registration = await registerServiceWorker() || await navigator.serviceWorker.ready;
  const { public_key: key } = await apiFetch("/api/push/key");
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true, applicationServerKey: fromBase64url(key),
  });
  const json = subscription.toJSON();
  await apiFetch("/api/push/subscriptions", {
    method: "POST", body: { endpoint: json.endpoint, keys: json.keys },
  });
  return "on";
}

export async function disablePush() {
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = registration && await registration.pushManager.getSubscription();
  if (!subscription) return "off";
  await apiFetch("/api/push/subscriptions", { method: "DELETE", body: { endpoint: subscription.endpoint } })
    .catch(() => {});
  await subscription.unsubscribe();
  return "off";
}
