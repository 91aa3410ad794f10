// After a logout with a service to go back to: goes on to the service once the
// front-channel logout frames have loaded (or after a few seconds at most).
// Without JavaScript the user selects the visible "Continue" link.
(function () {
  "use strict";
  var MAX_WAIT_MS = 5000;
  var link = document.querySelector("a.js-logout-continue");
  if (!link) {
    return;
  }
  var frames = document.querySelectorAll("iframe.js-front-channel-logout");
  var pending = frames.length;
  var gone = false;
  function go() {
    if (!gone) {
      gone = true;
      window.location.assign(link.href);
    }
  }
  function loaded() {
    pending -= 1;
    if (pending <= 0) {
      go();
    }
  }
  for (var i = 0; i < frames.length; i++) {
    frames[i].addEventListener("load", loaded);
    frames[i].addEventListener("error", loaded);
  }
  if (pending === 0) {
    go();
  }
  window.setTimeout(go, MAX_WAIT_MS);
})();
