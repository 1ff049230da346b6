// The add-step form: choosing an operator fills the parameters box with an example of its parameters (unless
// the box holds something typed by hand), and shows the second input only for operators that read two tables.
(function () {
  "use strict";
  var select = document.getElementById("step-operator");
  var box = document.getElementById("step-parameters");
  var data = document.getElementById("operator-examples");
  if (!select || !box || !data) { return; }
  var examples = {};
  JSON.parse(data.textContent).forEach(function (op) { examples[op.short] = op; });
  var filled = box.value;
  var second = document.querySelector("#add-step .second-input");
  function update(fill) {
    var op = examples[select.value];
    if (second) { second.style.display = op && op.inputs === 2 ? "" : "none"; }
    if (fill && op && (box.value.trim() === "" || box.value === filled)) {
      box.value = JSON.stringify(op.example, null, 2);
      filled = box.value;
    }
  }
  select.addEventListener("change", function () { update(true); });
  update(false);
}());
