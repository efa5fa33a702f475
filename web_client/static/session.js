// Device-bound sessions, the browser side of docs/security.md.
//
// The session token is an HttpOnly cookie this page never sees. What the page keeps is
// `ath` (base64url of the token's SHA-256, from the sign-in response): every request
// carries a DPoP proof signed by the device key with that ath, so the cookie alone,
// copied off the phone, is worth nothing. ath is a hash, not a credential; it lives in
// localStorage so every tab of this origin can prove requests for the shared cookie.

import {
  createDeviceKey, dpopProof, generateDeviceKey, getDeviceKey, getEnrollment, saveEnrollment,
} from "./device.js";
import { credentialToJSON, creationOptionsFromJSON, requestOptionsFromJSON } from "./webauthn.js";

const ATH_KEY = "tsunagu.ath";

// The latest DPoP-Nonce any response carried (RFC 9449 §8): the next proof signs it.
// A proof without one (or with an expired one) is refused with 401 use_dpop_nonce and
// signed again; that works, but the browser logs every 401 as a console error, so the
// expected path asks GET /auth/nonce first instead. The server's nonces live 300 s by
// default (CHAT_DPOP_NONCE_LIFETIME_SECONDS); one older than NONCE_MAX_AGE_MS is replaced.
const NONCE_MAX_AGE_MS = 240_000;
let latestNonce = null;
let nonceReceivedAt = 0;
let nonceRequest = null;

/** Keep the DPoP-Nonce `response` carries, if any, for the next proof. */
export function noteNonce(response) {
  const nonce = response.headers.get("DPoP-Nonce");
  if (nonce) {
    latestNonce = nonce;
    nonceReceivedAt = performance.now();
  }
}

/** The last nonce seen (for a retry after use_dpop_nonce, which carried a new one). */
export function latestNonceSeen() {
  return latestNonce;
}

/**
 * A nonce recent enough for the next proof: the last one seen, or one fetched now from
 * GET /auth/nonce (one request however many callers wait). Resolves with null when that
 * fails; the request itself then fails, or recovers through use_dpop_nonce.
 */
export async function freshNonce() {
  if (latestNonce && performance.now() - nonceReceivedAt < NONCE_MAX_AGE_MS) return latestNonce;
  nonceRequest ||= fetch(new URL("/auth/nonce", location.origin).href, {
    credentials: "same-origin", cache: "no-store",
  }).then(noteNonce, () => {}).finally(() => { nonceRequest = null; });
  await nonceRequest;
  return latestNonce;
}

/** An HTTP error in the server's shape {"error": {"code", "message", "message_ja"?}}. */
export class ApiError extends Error {
  constructor(status, code, message, messageJa = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.messageJa = messageJa;
  }
}

export function getAth() {
  return localStorage.getItem(ATH_KEY);
}

/** True when this browser believes it holds a session (the server has the last word). */
export function hasSession() {
  return Boolean(getAth());
}

export function clearSession() {
  localStorage.removeItem(ATH_KEY);
}

function storeSession(result) {
  if (typeof result.ath !== "string" || !result.ath) {
    throw new ApiError(0, "session_not_bound", "The server did not bind the session to this device");
  }
  localStorage.setItem(ATH_KEY, result.ath);
}

async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

function needsNonce(response) {
  return response.status === 401 &&
    /use_dpop_nonce/.test(response.headers.get("WWW-Authenticate") || "");
}

/**
 * Call the server's JSON API. Returns the parsed body; throws ApiError on an error
 * status (and TypeError when the network fails).
 *
 * `proof`: "session" (default) signs a DPoP proof with ath; "device" signs one without
 * ath (enrollment, sign-in, the demo session: no session exists yet); "none" sends no
 * proof. `keyPair` overrides the stored device key (enrollment, before it is stored).
 * A 401 use_dpop_nonce is answered by signing again with the new nonce, once.
 */
export async function apiFetch(path, { method = "GET", body, proof = "session", keyPair } = {}) {
  const response = await provenFetch(path, {
    method, proof, keyPair,
    contentType: body === undefined ? null : "application/json",
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
  return readBody(response);
}

/** GET bytes the page cannot load by URL (an <img src> carries no proof): a photo. */
export async function apiFetchBlob(path) {
  const response = await provenFetch(path, { method: "GET", accept: "image/*" });
  return response.blob();
}

/** POST a file as the raw body (a photo); returns the JSON answer. */
export async function apiUpload(path, file) {
  const response = await provenFetch(path, {
    method: "POST", contentType: file.type || "application/octet-stream", payload: file,
  });
  return readBody(response);
}

/** One request with a fresh DPoP proof; throws ApiError on an error status. */
async function provenFetch(path, { method, proof = "session", keyPair, contentType = null,
                                   payload, accept = "application/json" }) {
  const url = new URL(path, location.origin).href;
  const key = proof === "none" ? null : (keyPair || await getDeviceKey());
  if (proof !== "none" && !key) {
    throw new ApiError(0, "not_enrolled", "This browser has no device key");
  }
  for (let attempt = 0; ; attempt++) {
    const headers = { "Accept": accept };
    if (contentType) headers["Content-Type"] = contentType;
    if (key) {
      headers["DPoP"] = await dpopProof(key, method, url, {
        nonce: attempt === 0 ? await freshNonce() : latestNonce,
        ath: proof === "session" ? getAth() : undefined,
      });
    }
    const response = await fetch(url, {
      method, headers, credentials: "same-origin", cache: "no-store", body: payload,
    });
    noteNonce(response);
    if (key && attempt === 0 && needsNonce(response)) continue;
    if (!response.ok) {
      const data = await readBody(response);
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || `http_${response.status}`,
                         error.message || response.statusText, error.message_ja || null);
    }
    return response;
  }
}

// --- enrollment -----------------------------------------------------------------------

/**
 * Step 1 of enrollment: who the code is for and the passkey options.
 * Throws ApiError enrollment_code_invalid (404) / _expired (410) / _used (409).
 */
export function enrollmentOptions(code) {
  return apiFetch("/auth/enroll/options", { method: "POST", body: { code }, proof: "none" });
}

/**
 * Enroll this browser with a one-time code: create the passkey, make a new device key,
 * have the server record both, then store key and enrollment together. `options` is a
 * recent enrollmentOptions(code) answer (fetched here when absent). Resolves with the
 * stored enrollment. Does not sign in: call signIn() next.
 */
export async function enroll(code, { options } = {}) {
  const offer = options || await enrollmentOptions(code);
  // The passkey first: it is the step that needs the person (and, on some browsers, the
  // tap that started this), and a cancelled prompt then leaves nothing behind.
  const credential = await navigator.credentials.create({
    publicKey: creationOptionsFromJSON(offer.publicKey),
  });
  // A new key for every enrollment: the server refuses a key another device holds.
  const keyPair = await generateDeviceKey();
  const result = await apiFetch("/auth/enroll/complete", {
    method: "POST", proof: "device", keyPair,
    body: { code, credential: credentialToJSON(credential) },
  });
  const enrollment = {
    credentialId: result.credential_id,
    deviceId: result.device.id,
    label: result.device.label,
    enrolledAt: result.device.enrolled_at,
    user: offer.user,
  };
  await saveEnrollment(enrollment, { keyPair });
  clearSession();     // any earlier session here was bound to the previous key
  return enrollment;
}

// --- signing in and out ---------------------------------------------------------------

/**
 * Sign in with this device's passkey. Resolves with the server's answer ({user, device,
 * expires_at, idle_timeout_seconds}; ath is stored). Throws ApiError not_enrolled when
 * this browser has no enrollment, a DOMException when the passkey prompt fails
 * (NotAllowedError: cancelled or timed out), or the server's ApiError.
 */
export async function signIn() {
  const [enrollment, keyPair] = await Promise.all([getEnrollment(), getDeviceKey()]);
  if (!enrollment || !keyPair) {
    throw new ApiError(0, "not_enrolled", "This browser is not enrolled");
  }
  const offer = await apiFetch("/auth/signin/options", {
    method: "POST", proof: "none", body: { credential_id: enrollment.credentialId },
  });
  const credential = await navigator.credentials.get({
    publicKey: requestOptionsFromJSON(offer.publicKey),
  });
  const result = await apiFetch("/auth/signin", {
    method: "POST", proof: "device", keyPair, body: { credential: credentialToJSON(credential) },
  });
  storeSession(result);
  return result;
}

/**
 * The clearly marked DEMO sign-in (development servers only: POST /dev/session). The
 * proof binds the demo session to this browser's device key exactly like a passkey
 * sign-in; a key is made when this browser has none.
 */
export async function demoSignIn(staffNumber) {
  const keyPair = (await getDeviceKey()) || (await createDeviceKey());
  const result = await apiFetch("/dev/session", {
    method: "POST", proof: "device", keyPair, body: { staff_number: staffNumber },
  });
  storeSession(result);
  return result;
}

/** End the session on the server (which clears the cookie) and forget ath here. */
export async function signOut() {
  try {
    if (hasSession()) await apiFetch("/api/session/sign-out", { method: "POST" });
  } catch (error) {
    // Already ended (401) is what we wanted; anything else is still the end here.
    if (!(error instanceof ApiError && error.status === 401)) console.warn("sign-out:", error);
  } finally {
    clearSession();
  }
}

/** The signed-in user's profile (GET /api/me); ApiError 401 when there is no session. */
export function fetchMe() {
  return apiFetch("/api/me");
}

/** Slide the session's idle deadline (POST /api/session/refresh). */
export function refreshSession() {
  return apiFetch("/api/session/refresh", { method: "POST" });
}

// --- the websocket ----------------------------------------------------------------------

export function wsUrl() {
  return location.origin.replace(/^http/, "ws") + "/ws";
}

/**
 * The answer to the server's {"type": "hello", "dpop_nonce"} frame: a proof for
 * GET ws(s)://host/ws with that nonce and ath. The cookie went with the handshake.
 */
export async function wsAuthFrame(helloNonce) {
  const keyPair = await getDeviceKey();
  if (!keyPair) throw new ApiError(0, "not_enrolled", "This browser has no device key");
  const proof = await dpopProof(keyPair, "GET", wsUrl(), { nonce: helloNonce, ath: getAth() });
  return { type: "auth", proof };
}
