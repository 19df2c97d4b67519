// Submission page: poll the status API until the run ends; show queue position, log tail, then results.
(function () {
  "use strict";
  var box = document.getElementById("status");
  if (!box) return;
  var url = box.dataset.statusUrl;
  var polls = 0;  // every second for the first two minutes, then every 5 s

  function text(id, value) { var el = document.getElementById(id); if (el) el.textContent = value || ""; }
  function show(id, yes) { var el = document.getElementById(id); if (el) el.hidden = !yes; }

  function render(data) {
    var run = data.run;
    if (run) {
      var badge = document.getElementById("run-status");
      badge.textContent = run.status_display;
      badge.className = "badge status-" + run.status;
      text("queue-position", run.queue_position ? "#" + run.queue_position + " in the queue" : "");
      text("run-error", run.error);
      text("run-notice", run.notice); show("run-notice", !!run.notice);
      text("log-tail", run.log_tail); show("log-tail", !!run.log_tail);
      if (run.predict) {
        text("predict-stdout", run.predict.stdout); text("predict-stderr", run.predict.stderr);
        show("predict-output", true);
      }
    }
    var points = document.getElementById("points");
    if (data.points !== null && data.points !== undefined) {
      points.innerHTML = "";
      var strong = document.createElement("strong");
      strong.textContent = data.points;
      points.appendChild(strong);
      points.appendChild(document.createTextNode(" / " + data.points_possible + " points" +
        (data.late_penalty ? " (late penalty −" + data.late_penalty + ")" : "")));
    } else if (run && run.terminal) {
      points.textContent = "Total withheld until the course staff publishes results.";
    }
    text("output", data.output); show("output", !!data.output);
    var body = document.querySelector("#tests tbody");
    body.innerHTML = "";
    (data.tests || []).forEach(function (t) {
      var tr = document.createElement("tr");
      [t.name, t.score + " / " + t.max_score].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      var td = document.createElement("td"); var pre = document.createElement("pre");
      pre.textContent = t.output || ""; td.appendChild(pre); tr.appendChild(td);
      body.appendChild(tr);
    });
    var withheld = document.getElementById("withheld");
    withheld.hidden = !data.tests_withheld;
    withheld.querySelector("span").textContent = data.tests_withheld;
    box.dataset.terminal = run && run.terminal ? "1" : "0";
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        render(data);
        polls += 1;
        if (!(data.run && data.run.terminal) && data.run) { setTimeout(poll, polls < 120 ? 1000 : 5000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  if (box.dataset.terminal !== "1") setTimeout(poll, 500);
})();
