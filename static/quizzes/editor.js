// The question editor: show only the fields of the chosen type (without JavaScript every field shows).
(function () {
  "use strict";
  const type = document.getElementById("q-qtype");
  if (!type) return;
  function sync() {
    document.querySelectorAll("#question-editor [data-for]").forEach((el) => {
      el.hidden = !el.dataset.for.split(" ").includes(type.value);
    });
  }
  type.addEventListener("change", sync);
  sync();
})();
