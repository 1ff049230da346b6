// The Debugger page's charts (uPlot): a training job's saved tensors against the step, and its profiler
// timeline (CPU per core, memory, GPU) against time, from /training-jobs/<job>/debugger/data.
//   <div data-debugger="tensors|system" data-src="...data" data-live="true|false">
// A live box reloads every 3 s until the data says {"live": false}; data-rendered counts the charts drawn.
(function () {
  "use strict";
  var COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

  function chart(box, title, xs, ys, time) {
    var fig = document.createElement("figure");
    box.appendChild(fig);
    new uPlot({title: title, width: Math.max(320, Math.min(720, box.clientWidth || 640)), height: 200,
               scales: {x: {time: !!time}},
               series: [{label: time ? "time" : "step"}, {label: title, stroke: COLORS[box.childNodes.length % COLORS.length]}]},
              [xs, ys], fig);
  }

  function draw(box, data) {
    box.innerHTML = "";
    var n = 0;
    if (box.dataset.debugger === "tensors") {
      (data.tensors || []).forEach(function (t) {
        if (t.steps.length) { chart(box, t.name, t.steps, t.values, false); n++; }
      });
    } else {
      Object.keys(data.system || {}).forEach(function (k) {
        var s = data.system[k];
        if (s.t.length) { chart(box, k, s.t, s.v, true); n++; }
      });
    }
    if (!n) {
      var p = document.createElement("p");
      p.className = "muted";
      p.textContent = box.dataset.debugger === "tensors" ? "No tensors saved (yet)." : "No system metrics (yet).";
      box.appendChild(p);
    }
    box.dataset.rendered = String(n);
  }

  function load(box) {
    fetch(box.dataset.src, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      draw(box, data);
      if (box.dataset.live === "true" && data.live) { setTimeout(function () { load(box); }, 3000); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-debugger]").forEach(load);
  });
})();
