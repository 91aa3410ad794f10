// Security keys and passkeys (WebAuthn) for the forms <form data-webauthn="create">
// (registration, profile) and <form data-webauthn="get"> (sign-in). Each form holds
// its options (<script type="application/json" data-webauthn-options>, as the server's
// py_webauthn wrote them), an <input type="hidden" name="credential"> this script
// fills with the browser's answer as JSON, and a hidden [data-webauthn-error] whose
// server-rendered text is shown if the browser refuses or times out. No words here.
(function () {
  "use strict";

  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: toBuffer(d.id) });
    });
  }

  // The options JSON as navigator.credentials wants it (buffers, not base64url).
  function parse(kind, json) {
    var PKC = window.PublicKeyCredential;
    if (kind === "create" && PKC.parseCreationOptionsFromJSON) return PKC.parseCreationOptionsFromJSON(json);
    if (kind === "get" && PKC.parseRequestOptionsFromJSON) return PKC.parseRequestOptionsFromJSON(json);
    var options = Object.assign({}, json, { challenge: toBuffer(json.challenge) });
    if (kind === "create") {
      options.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
      options.excludeCredentials = descriptors(json.excludeCredentials);
    } else {
      options.allowCredentials = descriptors(json.allowCredentials);
    }
    return options;
  }

  // The credential in the WebAuthn Level 3 toJSON() shape py_webauthn reads.
  function serialise(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    var r = credential.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = toText(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: response
    };
  }

  function setUp(form) {
    var kind = form.getAttribute("data-webauthn");
    var source = form.querySelector("script[data-webauthn-options]");
    var field = form.querySelector("input[name=credential]");
    var error = form.querySelector("[data-webauthn-error]");
    var buttons = form.querySelectorAll("button[type=submit], button:not([type])");
    if (!source || !field || (kind !== "create" && kind !== "get")) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      var unsupported = form.querySelector("[data-webauthn-unsupported]");
      if (unsupported) unsupported.hidden = false;
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
      return;
    }
    var busy = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) return;
      busy = true;
      if (error) error.hidden = true;
      var publicKey;
      try {
        publicKey = parse(kind, JSON.parse(source.textContent));
      } catch (e) {
        busy = false;
        if (error) error.hidden = false;
        return;
      }
      var call = kind === "create"
        ? navigator.credentials.create({ publicKey: publicKey })
        : navigator.credentials.get({ publicKey: publicKey });
      call.then(function (credential) {
        if (!credential) throw new Error("no credential");
        field.value = JSON.stringify(serialise(credential));
        HTMLFormElement.prototype.submit.call(form);
      }).catch(function () {
        // Cancelled, timed out, refused (an excluded key): the server's words, announced.
        busy = false;
        if (error) error.hidden = false;
      });
    });
  }

  var forms = document.querySelectorAll("form[data-webauthn]");
  for (var i = 0; i < forms.length; i++) setUp(forms[i]);
})();
