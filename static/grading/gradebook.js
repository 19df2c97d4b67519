// Gradebook grid: spreadsheet-like keyboard editing, saved one cell at a time through the JSON API.
(function () {
  "use strict";
  const table = document.getElementById("gradebook");
  if (!table) return;
  const api = table.dataset.api;
  const historyUrl = (item, student) => table.dataset.history.replace("/0/students/0/", `/${item}/students/${student}/`);
  const statusBox = document.getElementById("gb-status");
  const pop = document.getElementById("gb-popover");
  let popCell = null;

  const inputs = () => Array.from(table.querySelectorAll("tbody tr")).map((tr) => Array.from(tr.querySelectorAll(".gb-input")));

  function position(input) {
    const grid = inputs();
    for (let r = 0; r < grid.length; r++) {
      const c = grid[r].indexOf(input);
      if (c >= 0) return { grid, r, c };
    }
    return null;
  }

  function move(input, dr, dc) {
    const p = position(input);
    if (!p) return;
    let r = p.r, c = p.c;
    const cols = p.grid[0].length, rows = p.grid.length;
    // Tab walks the row and wraps to the next/previous row; Enter goes down the column.
    c += dc; r += dr;
    if (c >= cols) { c = 0; r += 1; }
    if (c < 0) { c = cols - 1; r -= 1; }
    if (r < 0 || r >= rows) return;
    const next = p.grid[r][c];
    next.focus();
    next.select();
  }

  async function send(input, body) {
    const td = input.closest("td");
    const tr = input.closest("tr");
    td.classList.remove("gb-error");
    td.classList.add("gb-saving");
    try {
      const data = await Site.fetchJSON(api, {
        method: "POST",
        json: { item: Number(input.dataset.item), student: Number(tr.dataset.student), ...body },
      });
      input.value = data.text;
      input.dataset.old = data.text;
      input.dataset.comment = data.comment || "";
      td.classList.toggle("gb-excused", data.state === "excused");
      td.classList.toggle("gb-missing", data.state !== "excused" && data.text === "");
      td.classList.toggle("gb-graded", data.state !== "excused" && data.text !== "");
      td.classList.toggle("gb-commented", !!data.comment);
      tr.querySelector('[data-total="current"]').textContent = data.current ?? "–";
      tr.querySelector('[data-total="final"]').textContent = data.final ?? "–";
      tr.querySelector('[data-total="letter"]').textContent = data.letter;
      statusBox.textContent = "Saved.";
      return data;
    } catch (err) {
      td.classList.add("gb-error");
      statusBox.textContent = err.message;
      throw err;
    } finally {
      td.classList.remove("gb-saving");
    }
  }

  function save(input) {
    const value = input.value.trim();
    if (value === input.dataset.old || input.readOnly || input.dataset.pending === value) return Promise.resolve();
    input.dataset.pending = value;  // Tab saves, then the blur's "change" would save the same value again
    const excused = ["EX", "E"].includes(value.toUpperCase());
    return send(input, excused ? { state: "excused" } : { points: value === "" ? null : value, state: "graded" })
      .catch(() => {}).finally(() => { delete input.dataset.pending; });
  }

  table.addEventListener("keydown", (event) => {
    const input = event.target.closest(".gb-input");
    if (!input) return;
    if (event.key === "Tab" || event.key === "Enter") {
      event.preventDefault();
      save(input);
      if (event.key === "Tab") move(input, 0, event.shiftKey ? -1 : 1);
      else move(input, event.shiftKey ? -1 : 1, 0);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      save(input);
      move(input, event.key === "ArrowDown" ? 1 : -1, 0);
    } else if (event.key === "Escape") {
      input.value = input.dataset.old;
    } else if (event.key.toLowerCase() === "h" && event.altKey) {
      event.preventDefault();
      openPopover(input);
    }
  });
  table.addEventListener("change", (event) => {
    const input = event.target.closest(".gb-input");
    if (input) save(input);
  });
  table.addEventListener("dblclick", (event) => {
    const input = event.target.closest(".gb-input");
    if (input) openPopover(input);
  });

  async function openPopover(input) {
    popCell = input;
    const tr = input.closest("tr");
    const name = tr.querySelector("th a").textContent;
    const item = table.querySelectorAll("thead th")[input.closest("td").cellIndex].getAttribute("title");
    document.getElementById("gb-pop-title").textContent = `${name} · ${item}`;
    document.getElementById("gb-pop-comment").value = input.dataset.comment || "";
    document.getElementById("gb-pop-reason").value = "";
    const readOnly = input.readOnly;
    document.getElementById("gb-pop-save").disabled = readOnly;
    document.getElementById("gb-pop-excuse").disabled = readOnly;
    const list = document.getElementById("gb-pop-history");
    list.textContent = "Loading…";
    pop.hidden = false;
    let rows = [];
    try {
      rows = await Site.fetchJSON(historyUrl(input.dataset.item, tr.dataset.student));
    } catch (err) {
      list.textContent = err.message;
      return;
    }
    list.textContent = "";
    if (!rows.length) list.textContent = "No changes yet.";
    for (const h of rows) {
      const li = document.createElement("li");
      const show = (state, points) => (state === "excused" ? "EX" : points ?? "–");
      li.textContent = `${Site.formatDateTime(h.changed_at)} · ${h.changed_by} (${h.source}): ` +
        `${show(h.old_state, h.old_points)} → ${show(h.new_state, h.new_points)}` +
        (Number(h.late_penalty_points) ? ` (late −${h.late_penalty_points})` : "") +
        (h.reason ? ` — ${h.reason}` : "") + (h.new_comment !== h.old_comment ? ` · comment: “${h.new_comment}”` : "");
      list.appendChild(li);
    }
  }
  function currentBody(extra) {
    const value = popCell.value.trim();
    const excused = ["EX", "E"].includes(value.toUpperCase());
    return Object.assign(excused ? { state: "excused" } : { points: value === "" ? null : value, state: "graded" },
      { reason: document.getElementById("gb-pop-reason").value }, extra);
  }
  document.getElementById("gb-pop-save").addEventListener("click", async () => {
    await send(popCell, currentBody({ comment: document.getElementById("gb-pop-comment").value })).catch(() => {});
    openPopover(popCell);
  });
  document.getElementById("gb-pop-excuse").addEventListener("click", async () => {
    await send(popCell, Object.assign(currentBody({}), { state: "excused" })).catch(() => {});
    openPopover(popCell);
  });
  document.getElementById("gb-pop-close").addEventListener("click", () => { pop.hidden = true; if (popCell) popCell.focus(); });
})();
