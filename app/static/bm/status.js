/* Sent Batches: rows whose file is still being sent (claimed/stored) update in place.
   Polls the view's status.json every 2 s while any row is in flight, then stops. */
(function () {
  "use strict";
  var script = document.getElementById("bm-status-script");
  if (!script) { return; }
  var url = script.getAttribute("data-url");
  var IN_FLIGHT = { claimed: true, stored: true };

  function inFlightMarkers() {
    return Array.prototype.filter.call(document.querySelectorAll(".bm-row-status"), function (el) {
      return IN_FLIGHT[el.getAttribute("data-status")];
    });
  }

  function apply(marker, info) {
    marker.setAttribute("data-status", info.status);
    var row = marker.closest("tr");
    if (!row) { return; }
    var badge = row.querySelector(".bm-status");
    if (badge) { badge.outerHTML = info.badge; }
    var sent = row.querySelector("td.col-sent_at");
    if (sent && info.sent) { sent.innerHTML = info.sent; }
  }

  function poll() {
    var markers = inFlightMarkers();
    if (!markers.length) { return; }
    var ids = markers.map(function (el) { return el.getAttribute("data-id"); });
    fetch(url + "?ids=" + encodeURIComponent(ids.join(",")), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error("status " + response.status); }
      return response.json();
    }).then(function (body) {
      markers.forEach(function (marker) {
        var info = body.data[marker.getAttribute("data-id")];
        if (info) { apply(marker, info); }
      });
    }).catch(function () { /* try again on the next tick */ })
      .then(function () { window.setTimeout(poll, 2000); });
  }

  window.setTimeout(poll, 2000);
})();
