// WebAuthn JSON <-> browser objects. The server speaks the W3C JSON forms
// (PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON, ...), where every
// binary member is base64url. Browsers that have the parse*FromJSON / toJSON methods
// do the conversion themselves; older ones get the same result by hand.

import { base64url, fromBase64url } from "./device.js";

const hasPublicKeyCredential = () => typeof PublicKeyCredential !== "undefined";

function descriptorFromJSON(descriptor) {
  return { ...descriptor, id: fromBase64url(descriptor.id) };
}

/** PublicKeyCredentialCreationOptionsJSON -> options for navigator.credentials.create. */
export function creationOptionsFromJSON(json) {
  if (hasPublicKeyCredential() && PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  const options = {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
  };
  if (json.excludeCredentials) {
    options.excludeCredentials = json.excludeCredentials.map(descriptorFromJSON);
  }
  return options;
}

/** PublicKeyCredentialRequestOptionsJSON -> options for navigator.credentials.get. */
export function requestOptionsFromJSON(json) {
  if (hasPublicKeyCredential() && PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  const options = { ...json, challenge: fromBase64url(json.challenge) };
  if (json.allowCredentials) {
    options.allowCredentials = json.allowCredentials.map(descriptorFromJSON);
  }
  return options;
}

/** A PublicKeyCredential -> RegistrationResponseJSON or AuthenticationResponseJSON. */
export function credentialToJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const json = {
    id: credential.id,
    rawId: base64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
  if ("attestationObject" in r) {     // AuthenticatorAttestationResponse: registration
    json.response = {
      clientDataJSON: base64url(r.clientDataJSON),
      attestationObject: base64url(r.attestationObject),
      transports: typeof r.getTransports === "function" ? r.getTransports() : [],
    };
  } else {                            // AuthenticatorAssertionResponse: sign-in
    json.response = {
      clientDataJSON: base64url(r.clientDataJSON),
      authenticatorData: base64url(r.authenticatorData),
      signature: base64url(r.signature),
      userHandle: r.userHandle ? base64url(r.userHandle) : undefined,
    };
  }
  return json;
}
