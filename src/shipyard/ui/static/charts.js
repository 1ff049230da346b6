// Metric curves of a training job, drawn with uPlot from /studio/training-jobs/<name>/metrics.json
// ({metric: {t: [epoch seconds], v: [values]}}). A running job's charts are redrawn every 3 s.
(function () {
  "use strict";
  function draw(box, series) {
    var names = Object.keys(series).sort();
    box.innerHTML = "";
    if (!names.length) {
      box.innerHTML = '<p class="muted">No metric values recorded (MetricDefinitions match the log).</p>';
    }
    names.forEach(function (name) {
      var fig = document.createElement("figure");
      fig.className = "metric-chart";
      fig.dataset.metric = name;
      box.appendChild(fig);
      var width = Math.max(320, Math.min(720, box.clientWidth || 640));
      new uPlot({
        title: name, width: width, height: 220,
        scales: {x: {time: true}},
        series: [{}, {label: name, stroke: "#2563eb", width: 2, points: {show: series[name].t.length < 60}}]
      }, [series[name].t, series[name].v], fig);
    });
    box.dataset.rendered = String(names.length);
  }
  function load(box) {
    fetch(box.dataset.src, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (series) { draw(box, series); })
      .catch(function (err) { box.innerHTML = '<p class="error">Could not load metrics: ' + err.message + "</p>"; });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("metric-charts");
    if (!box) { return; }
    load(box);
    if (box.dataset.live === "true") { setInterval(function () { load(box); }, 3000); }
  });
})();
