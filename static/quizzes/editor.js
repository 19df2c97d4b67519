/* The question editor: show only the fields of the chosen type (without JavaScript every field shows). */
(function () {
  "use strict";
  var type = document.getElementById("q-qtype");
  if (!type) return;
  function sync() {
    document.querySelectorAll("#question-editor [data-for]").forEach(function (el) {
      el.hidden = el.dataset.for.split(" ").indexOf(type.value) === -1;
    });
  }
  type.addEventListener("change", sync);
  sync();
})();
