// Vigil dashboard: the little that needs a script. Everything works
// without it (forms post, pages reload); with it, the alerts list follows
// the live feed and destructive buttons ask first.
(function () {
  "use strict";
  // Confirm the actions that stop or force enforcement.
  document.addEventListener("submit", function (e) {
    var b = e.submitter;
    if (!b) return;
    var a = b.getAttribute("data-action");
    if (a === "kill-on" && !confirm("Stop all enforcement? Every block Vigil installed is removed.")) e.preventDefault();
    if (a === "approve" && !confirm("Approve this block? The device will be cut off as the block says.")) e.preventDefault();
  });
  // Live alerts: refresh the incident list on each update, keeping the
  // page's filters. A form being filled is not replaced under the user.
  var list = document.getElementById("incidents");
  var badge = document.getElementById("live");
  if (!list || !window.EventSource) return;
  var pending = false, busy = false;
  function refresh() {
    if (busy) { pending = true; return; }
    var active = document.activeElement;
    if (list.contains(active) && (active.tagName === "INPUT" || active.tagName === "SELECT") ||
        list.querySelector("details.suppress[open]")) { pending = true; return; }
    busy = true;
    fetch(location.href, { headers: { "X-Fragment": "incidents" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var fresh = t.content.firstElementChild;
        if (fresh) { list.replaceWith(fresh); list = fresh; }
        document.body.dataset.liveUpdates = String(Number(document.body.dataset.liveUpdates || 0) + 1);
      })
      .catch(function () {})
      .finally(function () { busy = false; if (pending) { pending = false; setTimeout(refresh, 500); } });
  }
  document.addEventListener("focusout", function () { if (pending) setTimeout(refresh, 300); });
  var es = new EventSource("/alerts/live");
  es.addEventListener("open", function () { if (badge) badge.hidden = false; });
  es.addEventListener("error", function () { if (badge) badge.hidden = true; });
  es.addEventListener("update", function () {
    if (badge) { badge.classList.add("flash-on"); setTimeout(function () { badge.classList.remove("flash-on"); }, 800); }
    refresh();
  });
})();
