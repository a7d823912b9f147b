// Admin overview: the subscriptions-per-plan chart. Data comes from a json_script element
// (type application/json, which the CSP does not treat as a script), never from inline JS.
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.body).getPropertyValue(name).trim();
    return value || fallback;
  }

  function draw() {
    var canvas = document.getElementById("plan-chart");
    var source = document.getElementById("plan-chart-data");
    if (!canvas || !source || !window.Chart) return;
    var data = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Active", data: data.active, backgroundColor: cssVar("--bs-success", "#198754") },
          { label: "Suspended", data: data.suspended, backgroundColor: cssVar("--cs-accent", "#f0ad00") }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
