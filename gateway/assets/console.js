// The staff console's only script of its own. Pages work without it; with it, htmx (loaded
// before this file) refreshes the parts marked `hx-trigger="gw:changed from:body"` whenever
// the user's notification stream reports something new.
(function () {
  "use strict";
  var live = document.querySelector("[data-live-events]");
  if (!live || !window.EventSource || !window.htmx) {
    return;
  }
  var source = new EventSource(live.getAttribute("data-live-events"));
  source.addEventListener("notification", function () {
    htmx.trigger(document.body, "gw:changed");
  });
  // The stream ends when the session does, and the browser then tries again: refresh, so an
  // ended session takes the user to the sign-in page (a refused retry closes the stream).
  source.addEventListener("error", function () {
    htmx.trigger(document.body, "gw:changed");
  });
  document.body.addEventListener("htmx:beforeRequest", function () {
    document.body.setAttribute("aria-busy", "true");
  });
  document.body.addEventListener("htmx:afterRequest", function () {
    document.body.removeAttribute("aria-busy");
  });
})();
