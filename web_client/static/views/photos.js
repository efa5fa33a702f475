// Photos and location: the 📷 picker and its preview bar, the upload (with the phone's
// position when 位置情報を付ける is ticked), thumbnails and the full view. Images are
// fetched with a DPoP proof and shown from blob URLs (an <img src> could not carry it).

import { errorText } from "../format.js";
import { t } from "../i18n.js";
import { apiFetchBlob, apiUpload } from "../session.js";

const $ = (id) => document.getElementById(id);

// The blob URLs of images on screen, released when the conversation changes.
let blobs = [];

/** Forget the images of the conversation that was on screen. */
export function releaseImages() {
  for (const url of blobs) URL.revokeObjectURL(url);
  blobs = [];
}

export async function loadImage(app, url, img) {
  try {
    const blob = await apiFetchBlob(url);
    if (!app.state) return;
    const objectUrl = URL.createObjectURL(blob);
    blobs.push(objectUrl);
    img.src = objectUrl;
  } catch {
    img.alt = t("photo.failed");
  }
}

export async function openPhoto(app, m) {
  const img = $("viewer-image");
  img.removeAttribute("src");
  img.alt = t("photo.alt");
  const loc = m.attachment.location;
  $("viewer-location").textContent = loc ? `📍 ${loc.lat}, ${loc.lon}` : "";
  $("viewer").hidden = false;
  $("viewer-close").focus();
  await loadImage(app, m.attachment.url, img);
}

export function clearPhoto(state) {
  if (state && state.photo) URL.revokeObjectURL(state.photo.preview);
  if (state) state.photo = null;
  $("photo-input").value = "";
  $("photo-bar").hidden = true;
}

function currentPosition() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
      () => resolve(null), { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
}

async function sendPhoto(app) {
  const state = app.state;
  if (!state || !state.photo || !state.current) return;
  const button = $("photo-send");
  button.disabled = true;
  $("photo-status").textContent = t("photo.uploading");
  try {
    const params = new URLSearchParams();
    if ($("share-location").checked) {
      params.set("share_location", "1");
      const where = await currentPosition();
      if (where) { params.set("lat", String(where.lat)); params.set("lon", String(where.lon)); }
    }
    const result = await apiUpload(`/api/channels/${state.current}/attachments?${params}`, state.photo.file);
    const fields = { channel_id: state.current, body: $("body").value.trim(), attachment_id: result.attachment.id };
    $("body").value = "";
    clearPhoto(state);
    await app.queueMessage(fields);
  } catch (error) {
    $("photo-status").textContent = errorText(error);
  } finally {
    button.disabled = false;
  }
}

export function setUp(app) {
  $("photo-input").addEventListener("change", () => {
    const file = $("photo-input").files[0];
    const state = app.state;
    if (!file || !state) return;
    if (state.photo) URL.revokeObjectURL(state.photo.preview);
    state.photo = { file, preview: URL.createObjectURL(file) };
    $("photo-preview").src = state.photo.preview;
    $("photo-preview").alt = file.name;
    $("photo-status").textContent = "";
    $("photo-bar").hidden = false;
  });
  $("photo-cancel").addEventListener("click", () => clearPhoto(app.state));
  $("photo-send").addEventListener("click", () => sendPhoto(app));
  $("viewer-close").addEventListener("click", () => { $("viewer").hidden = true; });
}
