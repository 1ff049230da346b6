// The worker portal's task widgets: what AWS's Crowd HTML elements draw, in a small script of our own.
// crowd-image-classifier / crowd-classifier: pick one label; *-multi-select: pick several;
// crowd-bounding-box: draw boxes on the image with the mouse; crowd-entity-annotation: select text, pick a label.
// Keys: 1-9 pick (or toggle) a label, Enter submits, Backspace/Delete removes the last box or entity.
// The answer is what the element would submit ({label}, {labels}, {boundingBoxes, inputImageProperties},
// {entities}); a pre-labeling endpoint's prediction is the starting answer.
(function () {
  "use strict";
  var view = JSON.parse(document.getElementById("task-data").textContent);
  var root = document.getElementById("task-root");
  var labels = view.labels;
  var shape = view.shape;
  var answer = initial();
  var current = 0;  // the label new boxes and entities get
  var image = null;

  function initial() {
    var p = view.prelabel;
    if (shape === "class") return {label: p && p.label ? p.label : null};
    if (shape === "multiclass") return {labels: p && p.labels ? p.labels.slice() : []};
    if (shape === "boxes") return {boundingBoxes: p && p.boundingBoxes ? p.boundingBoxes.slice() : []};
    return {entities: p && p.entities ? p.entities.slice() : []};
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- the data object ---
  function showSource(into) {
    if (view.source_ref && (shape === "boxes" || view.element.indexOf("image") >= 0)) {
      var stage = el("div", {id: "stage"});
      image = el("img", {id: "task-image", src: window.SHIPYARD_OBJECT_URL, alt: "the image to label",
                         draggable: "false"});
      stage.appendChild(image);
      into.appendChild(stage);
      return stage;
    }
    var text = el("div", {id: "text-source"}, view.source || "");
    if (view.source === null || view.source === undefined) {
      fetch(window.SHIPYARD_OBJECT_URL, {credentials: "same-origin"}).then(function (r) { return r.text(); })
        .then(function (t) { text.textContent = t; view.source = t; });
    }
    into.appendChild(text);
    return text;
  }

  // --- the label picker ---
  var picker = el("div", {class: "labels", id: "label-picker"});
  function drawPicker() {
    picker.innerHTML = "";
    labels.forEach(function (name, i) {
      var chosen = shape === "class" ? answer.label === name
        : shape === "multiclass" ? answer.labels.indexOf(name) >= 0 : current === i;
      var b = el("button", {type: "button", "data-label": name, class: chosen ? "chosen" : ""}, name);
      if (i < 9) b.appendChild(el("span", {class: "key"}, "(" + (i + 1) + ")"));
      b.addEventListener("click", function () { pick(i); });
      picker.appendChild(b);
    });
  }
  function pick(i) {
    var name = labels[i];
    if (name === undefined) return;
    if (shape === "class") answer.label = name;
    else if (shape === "multiclass") {
      var at = answer.labels.indexOf(name);
      if (at >= 0) answer.labels.splice(at, 1); else answer.labels.push(name);
    } else if (shape === "entities" && addSelection(name)) {
      return;
    } else current = i;
    drawPicker();
  }

  // --- bounding boxes ---
  var layer = null;
  function scale() { return image && image.clientWidth ? image.naturalWidth / image.clientWidth : 1; }
  function drawBoxes() {
    if (!layer) return;
    layer.querySelectorAll(".box").forEach(function (b) { b.remove(); });
    var s = scale();
    answer.boundingBoxes.forEach(function (b) {
      var d = el("div", {class: "box"});
      d.style.left = (b.left / s) + "px"; d.style.top = (b.top / s) + "px";
      d.style.width = (b.width / s) + "px"; d.style.height = (b.height / s) + "px";
      d.appendChild(el("span", {}, b.label));
      layer.appendChild(d);
    });
    listItems();
  }
  function setupBoxes(stage) {
    layer = stage;
    var start = null, ghost = null;
    function point(ev) {
      var r = image.getBoundingClientRect();
      return {x: Math.max(0, Math.min(ev.clientX - r.left, r.width)), y: Math.max(0, Math.min(ev.clientY - r.top, r.height))};
    }
    stage.addEventListener("mousedown", function (ev) {
      ev.preventDefault();
      start = point(ev);
      ghost = el("div", {class: "box", id: "drawing"});
      stage.appendChild(ghost);
    });
    window.addEventListener("mousemove", function (ev) {
      if (!start) return;
      var p = point(ev);
      ghost.style.left = Math.min(p.x, start.x) + "px"; ghost.style.top = Math.min(p.y, start.y) + "px";
      ghost.style.width = Math.abs(p.x - start.x) + "px"; ghost.style.height = Math.abs(p.y - start.y) + "px";
    });
    window.addEventListener("mouseup", function (ev) {
      if (!start) return;
      var p = point(ev), s = scale();
      var box = {label: labels[current], left: Math.round(Math.min(p.x, start.x) * s),
                 top: Math.round(Math.min(p.y, start.y) * s), width: Math.round(Math.abs(p.x - start.x) * s),
                 height: Math.round(Math.abs(p.y - start.y) * s)};
      start = null; ghost.remove(); ghost = null;
      if (box.width >= 2 && box.height >= 2) answer.boundingBoxes.push(box);
      drawBoxes();
    });
    if (image.complete) drawBoxes(); else image.addEventListener("load", drawBoxes);
  }

  // --- entities ---
  var textNode = null;
  function addSelection(name) {
    var sel = window.getSelection();
    if (!textNode || !sel || sel.rangeCount === 0 || sel.isCollapsed) return false;
    var range = sel.getRangeAt(0);
    if (!textNode.contains(range.startContainer) || !textNode.contains(range.endContainer)) return false;
    var pre = document.createRange();
    pre.selectNodeContents(textNode);
    pre.setEnd(range.startContainer, range.startOffset);
    var start = pre.toString().length, end = start + range.toString().length;
    if (end > start) answer.entities.push({label: name, startOffset: start, endOffset: end});
    sel.removeAllRanges();
    listItems();
    return true;
  }

  // --- the list of boxes / entities, each removable ---
  var list = el("ul", {id: "items"});
  function listItems() {
    list.innerHTML = "";
    var items = shape === "boxes" ? answer.boundingBoxes : shape === "entities" ? answer.entities : [];
    items.forEach(function (it, i) {
      var what = shape === "boxes" ? it.label + " at " + it.left + "," + it.top + " (" + it.width + "×" + it.height + ")"
        : it.label + ": “" + (view.source || "").slice(it.startOffset, it.endOffset) + "”";
      var li = el("li", {"data-index": String(i)}, what + " ");
      var rm = el("button", {type: "button", class: "remove"}, "remove");
      rm.addEventListener("click", function () { items.splice(i, 1); shape === "boxes" ? drawBoxes() : listItems(); });
      li.appendChild(rm);
      list.appendChild(li);
    });
  }

  // --- submit ---
  var form = document.getElementById("answer-form");
  form.addEventListener("submit", function (ev) {
    if (shape === "class" && !answer.label) {
      ev.preventDefault();
      alert("Pick a label first.");
      return;
    }
    var out = answer;
    if (shape === "boxes" && image) {
      out = {boundingBoxes: answer.boundingBoxes,
             inputImageProperties: {width: image.naturalWidth, height: image.naturalHeight}};
    }
    document.getElementById("answer-field").value = JSON.stringify(out);
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.target && (ev.target.tagName === "INPUT" || ev.target.tagName === "TEXTAREA")) return;
    if (ev.key >= "1" && ev.key <= "9") { pick(Number(ev.key) - 1); ev.preventDefault(); }
    else if (ev.key === "Enter") { ev.preventDefault(); form.requestSubmit(document.getElementById("submit")); }
    else if (ev.key === "Backspace" || ev.key === "Delete") {
      if (shape === "boxes") { answer.boundingBoxes.pop(); drawBoxes(); }
      else if (shape === "entities") { answer.entities.pop(); listItems(); }
    }
  });

  // --- the time limit ---
  var deadline = document.getElementById("deadline");
  function tick() {
    var left = Math.max(0, Math.round(Number(deadline.dataset.deadline) - Date.now() / 1000));
    deadline.textContent = "Time left: " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
  }
  if (deadline && deadline.dataset.deadline) { tick(); setInterval(tick, 1000); }

  var source = showSource(root);
  if (shape === "entities") textNode = source;
  root.appendChild(picker);
  root.appendChild(list);
  drawPicker();
  if (shape === "boxes") setupBoxes(source); else listItems();
})();
