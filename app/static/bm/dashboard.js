/* The dashboard's charts, drawn with the vendored Chart.js from the page's JSON data
   (script#bm-dashboard-data). Clicking a bar or point opens the filtered table behind it. */
(function () {
  "use strict";
  var source = document.getElementById("bm-dashboard-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var BLUE = "#2fa4e7", GREEN = "#73a839", RED = "#c71c22";

  function draw(id, config, links) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    config.options = Object.assign({
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { display: config.data.datasets.length > 1 } },
      onClick: function (event, elements) {
        if (elements.length && links[elements[0].index]) { window.location.href = links[elements[0].index]; }
      },
      onHover: function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      }
    }, config.options || {});
    new Chart(canvas, config);
    canvas.setAttribute("data-drawn", "true");
  }

  var shortDays = data.delivered.labels.map(function (day) { return day.slice(5); });
  draw("bm-chart-delivered", {
    data: {
      labels: shortDays,
      datasets: [
        { type: "bar", label: "Files", data: data.delivered.files, backgroundColor: BLUE, yAxisID: "files" },
        { type: "line", label: "Leads", data: data.delivered.leads, borderColor: GREEN, backgroundColor: GREEN,
          yAxisID: "leads", tension: 0.2, pointRadius: 2 }
      ]
    },
    options: {
      scales: {
        files: { type: "linear", position: "left", beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "files" } },
        leads: { type: "linear", position: "right", beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false },
                 title: { display: true, text: "leads" } }
      }
    }
  }, data.delivered.links);

  draw("bm-chart-failed", {
    type: "bar",
    data: { labels: shortDays, datasets: [{ label: "Failed files", data: data.failed.files, backgroundColor: RED }] },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  }, data.failed.links);

  draw("bm-chart-scheduled", {
    type: "bar",
    data: { labels: data.scheduled.labels, datasets: [{ label: "Sends", data: data.scheduled.sends, backgroundColor: BLUE }] },
    options: {
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: false }, tooltip: { callbacks: { title: function (items) { return data.scheduled.titles[items[0].dataIndex]; } } } }
    }
  }, data.scheduled.links);
}());
