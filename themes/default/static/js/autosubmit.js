// Submits the POST-redirect forms (SAML / form_post responses) as soon as the
// page is ready. Without JavaScript the user presses the visible button.
(function () {
  "use strict";
  function submitAll() {
    var forms = document.querySelectorAll("form.js-autosubmit");
    for (var i = 0; i < forms.length; i++) {
      forms[i].submit();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", submitAll);
  } else {
    submitAll();
  }
})();
