// Behaviour that would otherwise be inline (the Content-Security-Policy runs no inline code).
(function () {
  // A form with data-confirm asks first (Batch now, Resend, Revoke, Log out everywhere).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a");
    if (!link) { return; }
    // Bulk actions ("With selected"): Flask-Admin's actions.js does the work.
    if (link.classList.contains("bm-bulk-action")) {
      event.preventDefault();
      window.modelActions.execute(link.getAttribute("data-action"));
      return;
    }
    // Flask-Admin's placeholder links (current page, active tab) are javascript:void(0),
    // and the CSP refuses to run a javascript: URL: keep the click a no-op, as intended.
    // Filter entries are "#" links: Flask-Admin's filter script adds the row.
    var href = link.getAttribute("href") || "";
    if (href.indexOf("javascript:") === 0 || (href === "#" && link.classList.contains("filter"))) {
      event.preventDefault();
    }
  }, true);
})();
