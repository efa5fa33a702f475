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

/**
 * Why turning push on failed, so 設定 can say why and what to do (docs/client.md):
 *   "permission"  not allowed this time (the prompt was dismissed): press again, allow
 *   "blocked"     denied in the browser's settings: allow it there first
 *   "service"     the browser could not reach its push service (no network, none built in)
 *   "refused"     the server refused the subscription's address (push_endpoint_refused)
 *   "server"      the server failed otherwise (`cause` says how)
 *   "unsupported" this browser has no Web Push
 */
export class PushFailure extends Error {
  constructor(reason, cause = null) {
    super(`push: ${reason}`);
    this.name = "PushFailure";
    this.reason = reason;
    this.cause = cause;
  }
}

/** Ask permission, subscribe with the server's VAPID key, and register the subscription.
 * Resolves "on"; throws PushFailure. A subscription the server refuses is dropped here
 * too, so the page never shows push as on while nothing would arrive. */
export async function enablePush() {
  if (!pushSupported()) throw new PushFailure("unsupported");
  const permission = await Notification.requestPermission();
  if (permission === "denied") throw new PushFailure("blocked");
  if (permission !== "granted") throw new PushFailure("permission");
  const registration = await registerServiceWorker() || await navigator.serviceWorker.ready;
  let key;
  try {
    ({ public_key: key } = await apiFetch("/api/push/key"));
  } catch (error) {
    throw new PushFailure("server", error);
  }
  let subscription;
  try {
    subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: fromBase64url(key),
    });
  } catch (error) {
    // Chromium says AbortError "push service not available" / "push service error".
    if (error && error.name === "NotAllowedError") {
      throw new PushFailure(Notification.permission === "denied" ? "blocked" : "permission", error);
    }
    throw new PushFailure("service", error);
  }
  const json = subscription.toJSON();
  try {
    await apiFetch("/api/push/subscriptions", {
      method: "POST", body: { endpoint: json.endpoint, keys: json.keys },
    });
  } catch (error) {
    await subscription.unsubscribe().catch(() => {});
    throw new PushFailure(error && error.code === "push_endpoint_refused" ? "refused" : "server", error);
  }
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
