// What-if calculator: sends the hypothetical grades to the API, which runs the real calculation.
(function () {
  "use strict";
  const form = document.getElementById("whatif");
  const out = document.getElementById("whatif-out");
  if (!form || !out) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const grades = {};
    for (const input of form.querySelectorAll(".whatif-input")) {
      if (input.value.trim() !== "") grades[input.dataset.item] = input.value.trim();
    }
    let data;
    try {
      data = await Site.fetchJSON(form.dataset.api, {
        method: "POST", json: { grades, student: Number(form.dataset.student) },
      });
    } catch (err) {
      out.textContent = err.message;
      out.className = "error";
      return;
    }
    out.className = "";
    const cats = data.categories.map((c) => `${c.name}: ${c.final ?? "–"}%`).join(" · ");
    const letter = data.letters_released ? ` · letter ${data.letter || "–"}` : "";
    out.textContent = `Current ${data.current ?? "–"}% · final ${data.final ?? "–"}%${letter} (${cats})`;
  });
  form.addEventListener("reset", () => { out.textContent = ""; });
})();
