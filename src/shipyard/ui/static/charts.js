// The console's charts, drawn with uPlot from a page's JSON route. Each chart box names its kind and its data:
//   <div data-chart="metrics|tuning|runs" data-src="...json" data-live="true|false">
// metrics: a training job's curves ({metric: {t: [epoch s], v: [values]}}), one chart per metric.
// tuning:  a tuning job's objective over time (each trial, and the best so far) and one scatter per tuned
//          hyperparameter (value vs objective; categorical values on an index axis labelled with the values).
// runs:    an experiment's chosen runs overlaid, one chart per metric, one series per run, against the step.
// A live box reloads every 3 s until its JSON says {"live": false} (a job that ended stops polling by itself).
// Each box says how many charts it drew in data-rendered (tests and people can wait on it).
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
  var RELOAD_MS = 3000;

  function chartWidth(box) {
    return Math.max(320, Math.min(720, box.clientWidth || 640));
  }

  function figure(box, className, data) {
    var fig = document.createElement("figure");
    fig.className = className;
    Object.keys(data || {}).forEach(function (k) { fig.dataset[k] = data[k]; });
    box.appendChild(fig);
    return fig;
  }

  function message(box, cls, text) {
    var p = document.createElement("p");
    p.className = cls;
    p.textContent = text;
    box.appendChild(p);
  }

  // An x range a little wider than the data, so that dots on the first and last value are not cut in half.
  function padded(u, min, max) {
    var pad = max > min ? (max - min) * 0.04 : 1;
    return [min - pad, max + pad];
  }
  var STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

  // A series drawn as dots only (a scatter): no path between points.
  function dots(label, colour) {
    return {label: label, stroke: colour, fill: colour, paths: function () { return null; },
            points: {show: true, size: 8, stroke: colour, fill: colour}};
  }

  function drawMetrics(box, series, plots) {
    var names = Object.keys(series).sort();
    if (!names.length) {
      message(box, "muted", "No metric values recorded (MetricDefinitions match the log).");
    }
    names.forEach(function (name) {
      var fig = figure(box, "metric-chart", {metric: name});
      plots.push(new uPlot({
        title: name, width: chartWidth(box), height: 220,
        scales: {x: {time: true, range: padded}},
        series: [{}, {label: name, stroke: "#2563eb", width: 2, points: {show: series[name].t.length < 60}}]
      }, [series[name].t, series[name].v], fig));
    });
    return names.length;
  }

  function drawTuning(box, data, plots) {
    var metric = (data.objective && data.objective.MetricName) || "objective";
    var time = data.time || {t: []};
    if (!time.t.length) {
      message(box, "muted", "No training job has reported " + metric + " yet.");
      return 0;
    }
    var fig = figure(box, "metric-chart tuning-chart", {chart: "objective-time"});
    plots.push(new uPlot({
      title: metric + " over time (" + (data.objective.Type || "Minimize") + ")",
      width: chartWidth(box), height: 260,
      scales: {x: {time: true, range: padded}},
      series: [{}, dots("trial", "#2563eb"),
               {label: "best so far", stroke: "#15803d", width: 2, paths: uPlot.paths.stepped({align: 1}),
                points: {show: false}}]
    }, [time.t, time.v, time.best], fig));
    var drawn = 1;
    var params = data.params || [];
    if (params.length) {
      var head = document.createElement("h3");
      head.textContent = "Hyperparameters vs " + metric;
      box.appendChild(head);
    }
    params.forEach(function (p) {
      var pfig = figure(box, "metric-chart tuning-chart scatter", {chart: "param", param: p.name});
      if (!p.x.length) {
        message(pfig, "muted", p.name + ": no values yet.");
        return;
      }
      var opts = {
        title: p.name + " vs " + metric, width: Math.min(480, chartWidth(box)), height: 220,
        scales: {x: p.log ? {time: false, distr: 3} : {time: false, range: padded}},
        axes: [{label: p.name + (p.log ? " (log)" : "")}, {label: metric}],
        series: [{label: p.name}, dots(metric, "#7c3aed")]
      };
      if (p.labels) {
        var labels = p.labels;
        opts.scales.x.range = function () { return [-0.5, labels.length - 0.5]; };
        opts.axes[0].splits = function () { return labels.map(function (_, i) { return i; }); };
        opts.axes[0].values = function (u, splits) {
          return splits.map(function (i) { return labels[i] === undefined ? "" : labels[i]; });
        };
        opts.series[0].value = function (u, v) { return v == null ? "" : labels[v]; };
      }
      plots.push(new uPlot(opts, [p.x, p.v], pfig));
      drawn += 1;
    });
    return drawn;
  }

  function drawRuns(box, data, plots) {
    var metrics = data.metrics || {};
    var names = Object.keys(metrics).sort();
    if (!names.length) {
      message(box, "muted", "The chosen runs logged no metrics.");
    }
    names.forEach(function (name) {
      var m = metrics[name];
      var fig = figure(box, "metric-chart run-chart", {metric: name, series: String(m.series.length)});
      var series = [{label: "step"}].concat(m.series.map(function (s, i) {
        var colour = PALETTE[i % PALETTE.length];
        return {label: s.run, stroke: colour, width: 2, spanGaps: true,
                points: {show: m.x.length < 60, stroke: colour, fill: colour}};
      }));
      plots.push(new uPlot({
        title: name, width: chartWidth(box), height: 240,
        scales: {x: {time: false}},
        axes: [{label: "step", incrs: STEPS}, {}],
        series: series
      }, [m.x].concat(m.series.map(function (s) { return s.v; })), fig));
    });
    return names.length;
  }

  var DRAW = {metrics: drawMetrics, tuning: drawTuning, runs: drawRuns};

  function start(box, kind) {
    var plots = [];
    function load() {
      fetch(box.dataset.src, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (data) {
          plots.forEach(function (p) { p.destroy(); });
          plots = [];
          box.innerHTML = "";
          box.dataset.rendered = String(DRAW[kind](box, data, plots));
          if (box.dataset.live === "true" && data.live !== false) { setTimeout(load, RELOAD_MS); }
        })
        .catch(function (err) {
          box.innerHTML = "";
          message(box, "error", "Could not load the chart data: " + err.message);
        });
    }
    load();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var legacy = document.getElementById("metric-charts");
    if (legacy && !legacy.dataset.chart) { start(legacy, "metrics"); }
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      if (DRAW[box.dataset.chart] && box.dataset.src) { start(box, box.dataset.chart); }
    });
  });
})();
