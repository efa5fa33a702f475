// The device key: an ECDSA P-256 key pair made by WebCrypto with a NON-extractable
// private key, kept in IndexedDB, that signs a DPoP proof (RFC 9449) for every request.
// A session is bound to this key (docs/security.md), so a stolen cookie is useless
// without the phone. IndexedDB stores the CryptoKey objects themselves (they are
// structured-cloneable, and a non-extractable key stays non-extractable), never key bytes.

const DB_NAME = "tsunagu";
const DB_VERSION = 1;
const STORE = "device";
const KEY_RECORD = "key";                 // the CryptoKeyPair
const ENROLLMENT_RECORD = "enrollment";   // {credentialId, deviceId, label, enrolledAt, user}

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ES256 = { name: "ECDSA", hash: "SHA-256" };

// --- IndexedDB ----------------------------------------------------------------------

let dbPromise = null;

function openDatabase() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => {
        const db = request.result;
        // Another tab deleting or upgrading the database: let it, reopen next time.
        db.onversionchange = () => { db.close(); dbPromise = null; };
        resolve(db);
      };
      request.onerror = () => { dbPromise = null; reject(request.error); };
      request.onblocked = () => { dbPromise = null; reject(new Error("IndexedDB is blocked")); };
    });
  }
  return dbPromise;
}

// Run `work(store)` in one transaction; resolves with the value of the request `work`
// returns (if any) once the transaction has committed.
async function withStore(mode, work) {
  const db = await openDatabase();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
  });
}

// --- the key ------------------------------------------------------------------------

/** The stored CryptoKeyPair, or null when this browser has none. */
export async function getDeviceKey() {
  const keyPair = await withStore("readonly", (store) => store.get(KEY_RECORD));
  return keyPair || null;
}

/** A fresh key pair, NOT stored (enrollment stores it only once the server accepts it). */
export function generateDeviceKey() {
  return crypto.subtle.generateKey(ECDSA_P256, false /* non-extractable */, ["sign"]);
}

/** Make a key pair and store it, replacing any previous one. */
export async function createDeviceKey() {
  const keyPair = await generateDeviceKey();
  await withStore("readwrite", (store) => { store.put(keyPair, KEY_RECORD); });
  return keyPair;
}

/**
 * Remember what enrollment returned. With `keyPair`, the key is stored in the same
 * transaction, so the browser never holds an enrollment without its key or the reverse.
 */
export async function saveEnrollment(enrollment, { keyPair } = {}) {
  await withStore("readwrite", (store) => {
    if (keyPair) store.put(keyPair, KEY_RECORD);
    store.put(enrollment, ENROLLMENT_RECORD);
  });
}

/** `{credentialId, deviceId, label, enrolledAt, user}` or null when not enrolled. */
export async function getEnrollment() {
  const enrollment = await withStore("readonly", (store) => store.get(ENROLLMENT_RECORD));
  return enrollment || null;
}

/** Drop the key and the enrollment (the server-side device is untouched). */
export async function forgetDevice() {
  await withStore("readwrite", (store) => {
    store.delete(KEY_RECORD);
    store.delete(ENROLLMENT_RECORD);
  });
}

/** The PUBLIC key as a JWK with only kty, crv, x, y (RFC 9449 §4.2: no private members). */
export async function publicJwk(keyPair) {
  const jwk = await crypto.subtle.exportKey("jwk", keyPair.publicKey);
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

// --- DPoP proofs --------------------------------------------------------------------

const utf8 = new TextEncoder();

/** base64url without padding (RFC 7515 §2) of bytes (ArrayBuffer or a typed array). */
export function base64url(bytes) {
  const view = ArrayBuffer.isView(bytes)
    ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    : new Uint8Array(bytes);
  let binary = "";
  for (let i = 0; i < view.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, view.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Bytes of a base64url string (padding optional). */
export function fromBase64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** `url` without query and fragment: the htu claim (RFC 9449 §4.2). */
export function htuOf(url) {
  const u = new URL(url, location.href);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * A DPoP proof (compact JWS, ES256) for `method url`, signed by the device key.
 * `nonce` is the server's latest DPoP-Nonce (omitted when none is known yet: the server
 * answers use_dpop_nonce); `ath` is base64url(sha256(session token)), given once a
 * session exists and omitted before.
 */
export async function dpopProof(keyPair, method, url, { nonce, ath } = {}) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: await publicJwk(keyPair) };
  const claims = {
    jti: crypto.randomUUID(),
    htm: method.toUpperCase(),
    htu: htuOf(url),
    iat: Math.floor(Date.now() / 1000),
  };
  if (nonce) claims.nonce = nonce;
  if (ath) claims.ath = ath;
  const signingInput = `${base64url(utf8.encode(JSON.stringify(header)))}.` +
                       `${base64url(utf8.encode(JSON.stringify(claims)))}`;
  // WebCrypto's ECDSA signature is already r || s, each 32 bytes: exactly what JWS
  // ES256 wants (RFC 7518 §3.4), so no DER conversion.
  const signature = await crypto.subtle.sign(ES256, keyPair.privateKey, utf8.encode(signingInput));
  return `${signingInput}.${base64url(signature)}`;
}
