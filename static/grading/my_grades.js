// What-if calculator: sends the hypothetical grades to the API, which runs the real calculation.
(function () {
  "use strict";
  const form = document.getElementById("whatif");
  const out = document.getElementById("whatif-out");
  if (!form || !out) return;
  function csrf() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const grades = {};
    for (const input of form.querySelectorAll(".whatif-input")) {
      if (input.value.trim() !== "") grades[input.dataset.item] = input.value.trim();
    }
    const response = await fetch(form.dataset.api, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: JSON.stringify({ grades, student: Number(form.dataset.student) }),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      out.textContent = (data.errors || [data.detail || "Could not calculate."]).join(" ");
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
