// stageflow dashboard: two small Chart.js bar charts with their counts written on the bars.
(function () {
  "use strict";
  if (typeof Chart === "undefined") return;

  var counts = {
    id: "counts",
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx;
      ctx.save();
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillStyle = "#18181b";
      ctx.textAlign = "center";
      var stacked = chart.options.scales.x.stacked;
      chart.data.labels.forEach(function (_, index) {
        var total = 0, top = null, x = null;
        chart.data.datasets.forEach(function (dataset, d) {
          var meta = chart.getDatasetMeta(d);
          if (meta.hidden) return;
          var bar = meta.data[index];
          var value = dataset.data[index] || 0;
          if (!stacked) {
            ctx.fillText(String(value), bar.x, bar.y - 4);
            return;
          }
          total += value;
          if (value) { top = top === null ? bar.y : Math.min(top, bar.y); }
          x = bar.x;
        });
        if (stacked && total) ctx.fillText(String(total), x, top - 4);
      });
      ctx.restore();
    }
  };

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var lifecycle = data("lifecycle-chart-data");
  if (lifecycle) {
    new Chart(document.getElementById("lifecycle-chart"), {
      type: "bar",
      data: { labels: lifecycle.labels, datasets: [{ label: "Contacts", data: lifecycle.contacts, backgroundColor: "#6366f1", borderRadius: 4 }] },
      options: {
        animation: false, maintainAspectRatio: false, layout: { padding: { top: 18 } },
        plugins: { legend: { display: false } },
        scales: { x: { stacked: false, grid: { display: false } }, y: { beginAtZero: true, ticks: { precision: 0 } } }
      },
      plugins: [counts]
    });
  }

  var days = data("runs-chart-data");
  if (days) {
    var series = function (key) { return days.map(function (d) { return d[key]; }); };
    new Chart(document.getElementById("runs-chart"), {
      type: "bar",
      data: {
        labels: days.map(function (d) { return d.label; }),
        datasets: [
          { label: "Completed", data: series("completed"), backgroundColor: "#16a34a" },
          { label: "Failed", data: series("failed"), backgroundColor: "#dc2626" },
          { label: "Waiting", data: series("waiting"), backgroundColor: "#a1a1aa" }
        ]
      },
      options: {
        animation: false, maintainAspectRatio: false, layout: { padding: { top: 18 } },
        plugins: { legend: { position: "bottom" } },
        scales: { x: { stacked: true, grid: { display: false } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } }
      },
      plugins: [counts]
    });
  }
})();
