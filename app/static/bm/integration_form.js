/* Configure form: field-mapping editor (writes the hidden JSON field), delivery method
   sections, the schedule kind's fields with a live preview, and Test connection. Plain JS, no build step. */
(function () {
  "use strict";
  var form = document.getElementById("bm-integration-form");
  if (!form) { return; }
  var csrf = form.querySelector("input[name=csrf_token]").value;

  // Field mapping ----------------------------------------------------------
  var hidden = document.getElementById("bm-fields-json");
  var body = document.querySelector("#bm-mapping tbody");
  var rows = [];
  try { rows = JSON.parse(hidden.value || "[]"); } catch (e) { rows = []; }
  if (!Array.isArray(rows)) { rows = []; }

  function write() { hidden.value = JSON.stringify(rows); }

  function button(icon, title, onClick, disabled) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-sm btn-link px-1";
    b.title = title;
    b.setAttribute("aria-label", title);
    b.disabled = !!disabled;
    b.innerHTML = '<span class="fa ' + icon + '"></span>';
    b.addEventListener("click", onClick);
    return b;
  }

  function input(value, key, index, list) {
    var el = document.createElement("input");
    el.className = "form-control form-control-sm";
    el.value = value || "";
    el.name = "mapping-" + key;
    if (list) { el.setAttribute("list", list); }
    el.addEventListener("input", function () { rows[index][key] = el.value; write(); });
    return el;
  }

  function render() {
    body.innerHTML = "";
    rows.forEach(function (row, i) {
      var tr = document.createElement("tr");
      var n = document.createElement("td"); n.className = "text-muted"; n.textContent = i + 1;
      var src = document.createElement("td"); src.appendChild(input(row.source, "source", i, "bm-sources"));
      var hdr = document.createElement("td"); hdr.appendChild(input(row.header, "header", i));
      var act = document.createElement("td"); act.className = "text-nowrap";
      act.appendChild(button("fa-arrow-up", "Move up", function () { move(i, -1); }, i === 0));
      act.appendChild(button("fa-arrow-down", "Move down", function () { move(i, 1); }, i === rows.length - 1));
      act.appendChild(button("fa-trash text-danger", "Remove", function () { rows.splice(i, 1); write(); render(); }));
      [n, src, hdr, act].forEach(function (td) { tr.appendChild(td); });
      body.appendChild(tr);
    });
    if (!rows.length) {
      body.innerHTML = '<tr><td colspan="4" class="text-center text-muted py-3">No columns yet — add the first one.</td></tr>';
    }
  }

  function move(i, delta) {
    var j = i + delta;
    if (j < 0 || j >= rows.length) { return; }
    var tmp = rows[i]; rows[i] = rows[j]; rows[j] = tmp;
    write(); render();
  }

  document.getElementById("bm-mapping-add").addEventListener("click", function () {
    rows.push({ source: "", header: "" });
    write(); render();
    var inputs = body.querySelectorAll("input[name=mapping-source]");
    if (inputs.length) { inputs[inputs.length - 1].focus(); }
  });
  render();

  // Delivery method ----------------------------------------------------------
  var method = document.getElementById("delivery_method");
  var credential = document.getElementById("credential_id");
  function showMethod() {
    var m = method.value;
    document.querySelectorAll(".bm-method-field").forEach(function (el) {
      el.style.display = el.getAttribute("data-methods").split(" ").indexOf(m) >= 0 ? "" : "none";
    });
    var needsCredential = ["sftp", "ftp", "s3"].indexOf(m) >= 0;
    credential.closest(".form-group").style.display = needsCredential ? "" : "none";
  }
  method.addEventListener("change", showMethod);
  showMethod();

  function esc(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  // Schedule: the chosen kind's fields, its words and next five runs ------------
  var preview = document.getElementById("bm-schedule-preview");
  var kind = document.getElementById("schedule_kind");
  var scheduleFields = ["schedule_kind", "schedule_cron", "schedule_interval", "schedule_unit", "schedule_at",
    "schedule_start", "timezone"];
  var timer = null;
  var previewSeq = 0;
  function showKind() {
    document.querySelectorAll("[data-schedule-kinds]").forEach(function (el) {
      var shown = el.getAttribute("data-schedule-kinds").split(" ").indexOf(kind.value) >= 0;
      el.classList.toggle("d-none", !shown);
    });
  }
  function refreshSchedule() {
    var query = scheduleFields.map(function (name) {
      return name + "=" + encodeURIComponent(document.getElementById(name).value);
    }).join("&");
    var asked = ++previewSeq;
    fetch(preview.getAttribute("data-url") + "?" + query, { credentials: "same-origin" }).then(function (r) {
      return r.json();
    }).then(function (data) {
      if (asked !== previewSeq) { return; }  // a later edit's answer is on its way
      var words = document.getElementById("bm-schedule-words");
      var list = document.getElementById("bm-schedule-runs");
      if (!data.ok) {
        words.textContent = "";
        var problems = Object.keys(data.errors || {}).map(function (k) { return k + ": " + data.errors[k].join(", "); });
        list.innerHTML = "";
        var li = document.createElement("li");
        li.className = "text-danger list-unstyled";
        li.textContent = problems.join("; ") || "Enter a valid schedule and time zone.";
        list.appendChild(li);
        return;
      }
      words.textContent = data.description;
      list.innerHTML = data.runs.map(function (r) {
        return "<li>" + esc(r.local) + ' <span class="text-muted">(' + esc(r["in"]) + ")</span></li>";
      }).join("");
    });
  }
  function refreshSoon() { window.clearTimeout(timer); timer = window.setTimeout(refreshSchedule, 300); }
  kind.addEventListener("change", showKind);
  scheduleFields.forEach(function (name) {
    var el = document.getElementById(name);
    el.addEventListener("input", refreshSoon);
    el.addEventListener("change", refreshSoon);
  });
  showKind();

  // Test connection ------------------------------------------------------------
  var test = document.getElementById("bm-test-connection");
  var result = document.getElementById("bm-test-result");
  test.addEventListener("click", function () {
    test.disabled = true;
    result.className = "alert alert-secondary";
    result.textContent = "Connecting…";
    fetch(test.getAttribute("data-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf },
      body: new FormData(form)
    }).then(function (r) { return r.json(); }).then(function (data) {
      result.className = "alert " + (data.ok ? "alert-success" : "alert-danger");
      result.textContent = (data.ok ? "Connection OK: " : "Connection failed: ") + data.message;
    }).catch(function () {
      result.className = "alert alert-danger";
      result.textContent = "Could not reach the server.";
    }).then(function () { test.disabled = false; });
  });
})();
