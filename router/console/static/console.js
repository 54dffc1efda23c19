// vigil console: keep the escalation countdowns ticking and the open page fresh.
// Served as a file (the Content-Security-Policy allows no inline script).
(function () {
  "use strict";
  var body = document.body;
  var serverNow = Date.parse(body.getAttribute("data-now") || "");
  // The router's clock, not the browser's: the offset between them is taken once.
  var offset = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function span(secs) {
    var d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600);
    var m = Math.floor(secs % 3600 / 60), s = secs % 60;
    if (d) { return d + "d " + h + "h"; }
    if (h) { return h + "h " + (m < 10 ? "0" : "") + m + "m"; }
    return m + "m " + (s < 10 ? "0" : "") + s + "s";
  }

  function tick() {
    var now = Date.now() + offset;
    var items = document.querySelectorAll(".countdown[data-due]");
    for (var i = 0; i < items.length; i++) {
      var due = Date.parse(items[i].getAttribute("data-due"));
      if (isNaN(due)) { continue; }
      var secs = Math.round((due - now) / 1000);
      items[i].textContent = (secs >= 0 ? "in " : "overdue ") + span(Math.abs(secs));
    }
  }

  tick();
  setInterval(tick, 1000);
  // The open page reloads every 30 s unless someone is typing a note.
  if (location.pathname === "/console/") {
    setInterval(function () {
      var a = document.activeElement;
      if (!a || (a.tagName !== "INPUT" && a.tagName !== "SELECT")) { location.reload(); }
    }, 30000);
  }
})();
