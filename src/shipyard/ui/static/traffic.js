// An endpoint's traffic charts, drawn with uPlot from /studio/endpoints/<name>/traffic.json:
// {t: [epoch seconds], variants: [...], charts: [{metric, unit, stat, lines: {variant: [values]}}], totals}.
// One chart per metric, one line per variant; polled every few seconds (data-interval) and redrawn in place.
(function () {
  "use strict";
  var COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
  var charts = {};  // metric -> {plot, key}

  function chartOptions(chart, variants, width) {
    var series = [{}];
    variants.forEach(function (v, i) {
      series.push({label: v, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false,
                   points: {show: true, size: 4}});
    });
    return {title: chart.metric + " (" + chart.stat + ", " + chart.unit + ")", width: width, height: 200,
            scales: {x: {time: true}, y: {range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; }}},
            series: series};
  }

  function draw(box, body) {
    var width = Math.max(320, Math.min(560, Math.floor((box.clientWidth || 1100) / 2) - 16));
    var seen = {};
    var placeholder = box.querySelector("p.muted, p.error");
    if (placeholder) { placeholder.remove(); }
    body.charts.forEach(function (chart) {
      seen[chart.metric] = true;
      var data = [body.t].concat(body.variants.map(function (v) { return chart.lines[v]; }));
      var key = body.variants.join("\u0000") + "|" + body.t.length + "|" + width;
      var held = charts[chart.metric];
      if (held && held.key === key) {
        held.plot.setData(data);
        return;
      }
      if (held) { held.plot.destroy(); held.fig.remove(); }
      var fig = document.createElement("figure");
      fig.className = "traffic-chart";
      fig.dataset.metric = chart.metric;
      box.appendChild(fig);
      charts[chart.metric] = {plot: new uPlot(chartOptions(chart, body.variants, width), data, fig), key: key,
                              fig: fig};
    });
    Object.keys(charts).forEach(function (metric) {
      if (!seen[metric]) { charts[metric].plot.destroy(); charts[metric].fig.remove(); delete charts[metric]; }
    });
    if (!body.variants.length) {
      box.innerHTML = '<p class="muted">This endpoint has no variants to chart.</p>';
    }
    box.dataset.rendered = String(body.charts.length);
    box.dataset.invocations = String(body.variants.reduce(function (n, v) {
      return n + (body.totals[v].Invocations || 0); }, 0));
    var stamp = document.getElementById("traffic-updated");
    if (stamp) { stamp.textContent = "· updated " + new Date().toLocaleTimeString(); }
  }

  function load(box) {
    var url = box.dataset.src + "?range=" + encodeURIComponent(box.dataset.range);
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (body) { draw(box, body); })
      .catch(function (err) {
        box.innerHTML = '<p class="error">Could not load the traffic metrics: ' + err.message + "</p>";
        charts = {};
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("endpoint-traffic");
    if (!box) { return; }
    document.querySelectorAll(".traffic-range").forEach(function (button) {
      button.addEventListener("click", function () {
        document.querySelectorAll(".traffic-range").forEach(function (b) { b.classList.remove("here"); });
        button.classList.add("here");
        box.dataset.range = button.dataset.range;
        load(box);
      });
    });
    load(box);
    var every = parseInt(box.dataset.interval, 10) || 5000;
    setInterval(function () { if (!document.hidden) { load(box); } }, every);
  });
})();
