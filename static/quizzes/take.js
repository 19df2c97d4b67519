/* Taking a quiz without ever losing an answer, on one device or several.
 *
 * The server owns a version per answer (1 for the first save, +1 for each save).
 * Every change is written at once to localStorage (the queue survives reloads and
 * crashes) with the version it replaces (its base), then sent, debounced. The
 * server applies a save only if its base is still the stored version; if another
 * device saved a different answer in between, it answers 409 "conflict" with its
 * value, version and time, and this page asks the student which to keep. No
 * ordering ever depends on this device's clock. An entry leaves the queue only
 * when the server has acknowledged it (after its commit), so "All answers saved"
 * means the server holds exactly what the page shows.
 *
 * Every few seconds the page asks which versions the server holds, so a change
 * made on another device shows here within 5 s. Offline, entries wait and are
 * resent when the browser is back online. No framework, no CDN.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("quiz-config").textContent);
  const KEY = "quiz-attempt-" + config.attempt;
  const TEXT_DEBOUNCE_MS = 600;
  const CHOICE_DEBOUNCE_MS = 100;
  const RETRY_MS = [1000, 2000, 4000, 8000, 15000];
  const POLL_MS = config.pollMs || 3000;

  const form = document.getElementById("quiz-form");
  // Answers are saved one by one as they change; Enter in a field must not post the form.
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  const indicator = document.getElementById("save-state");
  const timerEl = document.getElementById("timer");
  const submitButton = document.getElementById("submit-attempt");
  const submitError = document.getElementById("submit-error");

  const server = config.answers; // slot -> {value, version, savedAt}: what the server holds, as far as we know
  // {pending: {slot: {value, base}} not yet acknowledged, conflicts: {slot: {value, version, savedAt}} the
  //  server's answer where it differs from ours, refused: {slot: message}, acked: {slot: {value, version, savedAt}}
  //  the last save the server acknowledged to this page: a reload can render before a save in flight commits}
  const store = readStore();
  let sending = false;
  let again = false;
  let flushTimer = null;
  let retryIndex = 0;
  let networkDown = !navigator.onLine;
  let fatal = null; // a refusal that ends the attempt (time is up, already submitted)
  let submitting = false;
  let offset = Date.parse(config.serverNow) - Date.now(); // server clock minus this device's clock

  function readStore() {
    try {
      const data = JSON.parse(localStorage.getItem(KEY) || "null");
      if (data && typeof data === "object") {
        const pending = data.pending || {};
        // Entries from an older page carry a client seq and no base: base 0 makes the server compare values.
        Object.keys(pending).forEach(function (slot) {
          if (typeof pending[slot].base !== "number") pending[slot] = { value: pending[slot].value, base: 0 };
        });
        const acked = data.acked || {};
        Object.keys(acked).forEach(function (slot) { if (typeof acked[slot].version !== "number") delete acked[slot]; });
        return { pending: pending, conflicts: data.conflicts || {}, refused: data.refused || {}, acked: acked };
      }
    } catch (e) { /* unreadable storage: start empty */ }
    return { pending: {}, conflicts: {}, refused: {}, acked: {} };
  }

  function persist() {
    try { localStorage.setItem(KEY, JSON.stringify(store)); } catch (e) { /* full or disabled */ }
  }

  function count(obj) { return Object.keys(obj).length; }
  /* JSON with object keys sorted: the server may return a matching answer's keys in another order. */
  function canonical(v) {
    if (v === undefined) return "null";
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return "{" + Object.keys(v).sort().map(function (k) { return JSON.stringify(k) + ":" + canonical(v[k]); }).join(",") + "}";
    }
    return JSON.stringify(v);
  }
  function same(a, b) { return canonical(a) === canonical(b); }
  function versionOf(slot) { return server[slot] ? server[slot].version || 0 : 0; }

  function clockTime(iso) { return Site.formatClock(iso, config.timeZone); }

  function fieldsetOf(slot) { return form.querySelector('fieldset[data-slot="' + slot + '"]'); }
  function numberOf(slot) { let fs = fieldsetOf(slot); return fs ? fs.dataset.number : slot; }

  function readValue(fs) {
    const type = fs.dataset.type;
    if (type === "single" || type === "truefalse") {
      const checked = fs.querySelector("input:checked");
      if (!checked) return null;
      return type === "single" ? parseInt(checked.value, 10) : checked.value === "true";
    }
    if (type === "multi") {
      const ids = [];
      fs.querySelectorAll("input:checked").forEach(function (i) { ids.push(parseInt(i.value, 10)); });
      return ids;
    }
    if (type === "matching") {
      const pairs = {};
      fs.querySelectorAll("select.match-input").forEach(function (s) { if (s.value) pairs[s.dataset.item] = s.value; });
      return pairs;
    }
    const input = fs.querySelector(".answer-input");
    return input ? input.value : null;
  }

  function writeValue(fs, value) {
    const type = fs.dataset.type;
    if (type === "single" || type === "truefalse" || type === "multi") {
      const chosen = Array.isArray(value) ? value.map(String) : (value === null || value === undefined ? [] : [String(value)]);
      fs.querySelectorAll("input").forEach(function (i) { i.checked = chosen.indexOf(i.value) !== -1; });
      return;
    }
    if (type === "matching") {
      fs.querySelectorAll("select.match-input").forEach(function (s) {
        s.value = value && typeof value === "object" && value[s.dataset.item] ? value[s.dataset.item] : "";
      });
      return;
    }
    const input = fs.querySelector(".answer-input");
    if (input) input.value = value === null || value === undefined ? "" : value;
  }

  /* An answer in words, as the student would recognise it. */
  function describe(fs, value) {
    if (isBlank(value)) return "no answer";
    const type = fs.dataset.type;
    if (type === "matching") {
      return Array.prototype.map.call(fs.querySelectorAll("select.match-input"), function (s) {
        const label = fs.querySelector('label[for="' + s.id + '"]');
        return (label ? label.textContent.trim() : s.dataset.item) + " → " + (value[s.dataset.item] || "(none)");
      }).join("; ");
    }
    if (type === "truefalse") return value ? "True" : "False";
    if (type === "single" || type === "multi") {
      const ids = Array.isArray(value) ? value : [value];
      return ids.map(function (id) {
        const input = fs.querySelector('input[value="' + id + '"]');
        return input ? input.closest("label").textContent.trim() : "choice " + id;
      }).join(", ");
    }
    return "“" + String(value) + "”";
  }

  function isBlank(v) {
    return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0) ||
      (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
  }

  function renderConflict(slot) {
    const fs = fieldsetOf(slot);
    if (!fs) return;
    let box = fs.querySelector(".conflict");
    const conflict = store.conflicts[slot];
    if (!conflict) { if (box) box.remove(); return; }
    if (!box) {
      box = document.createElement("div");
      box.className = "conflict";
      box.setAttribute("role", "alert");
      box.innerHTML = '<p class="conflict-text"></p>' +
        '<button type="button" class="keep-theirs">Keep this one</button> ' +
        '<button type="button" class="keep-mine">Keep mine</button>';
      box.querySelector(".keep-theirs").addEventListener("click", function () { keepTheirs(slot); });
      box.querySelector(".keep-mine").addEventListener("click", function () { keepMine(slot); });
      fs.appendChild(box);
    }
    const mine = store.pending[slot] ? store.pending[slot].value : readValue(fs);
    box.querySelector(".conflict-text").textContent =
      "Changed on another device at " + clockTime(conflict.savedAt) + " — it reads " + describe(fs, conflict.value) +
      "; this device has " + describe(fs, mine) + ".";
  }

  function noteRemoteChange(slot) {
    const fs = fieldsetOf(slot);
    if (!fs) return;
    let note = fs.querySelector(".remote-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "remote-note muted";
      note.setAttribute("role", "status");
      fs.appendChild(note);
    }
    note.textContent = "Changed on another device at " + clockTime(server[slot].savedAt) + ".";
  }

  function render() {
    const n = count(store.pending) - count(store.conflicts);
    const c = count(store.conflicts);
    const r = count(store.refused);
    let state, text;
    if (fatal) { state = "error"; text = fatal; }
    else if (c) { state = "conflict"; text = c + " answer" + (c > 1 ? "s" : "") + " changed on another device — choose which to keep"; }
    else if (r) {
      state = "error";
      text = Object.keys(store.refused).map(function (s) { return "Question " + numberOf(s) + " not saved: " + store.refused[s]; }).join(" ");
    }
    else if (networkDown && n) { state = "offline"; text = "Offline — " + n + " answer" + (n > 1 ? "s" : "") + " kept on this device, will be sent when you are back online"; }
    else if (networkDown) { state = "offline"; text = "Offline — your answers are kept on this device"; }
    else if (n) { state = "saving"; text = "Saving…"; }
    else { state = "saved"; text = "All answers saved"; }
    indicator.dataset.state = state;
    indicator.textContent = text;
    document.querySelectorAll(".qnav a").forEach(function (a) {
      const slot = a.dataset.slot;
      const value = store.pending[slot] ? store.pending[slot].value : (server[slot] ? server[slot].value : null);
      a.classList.toggle("answered", !isBlank(value));
      a.classList.toggle("pending", !!store.pending[slot]);
      a.classList.toggle("conflict", !!store.conflicts[slot]);
    });
    Object.keys(server).forEach(renderConflict);
  }

  function schedule(delay) {
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flush, delay);
  }

  function onChange(event) {
    if (fatal) return;
    const fs = event.target.closest("fieldset[data-slot]");
    if (!fs || !event.target.matches("input, textarea, select")) return;
    const slot = fs.dataset.slot;
    const value = readValue(fs);
    const known = store.pending[slot] || server[slot];
    // "change" after "input" (leaving a text box) repeats a value already queued or saved.
    if (known && same(known.value, value)) return;
    if (!known && isBlank(value)) return;
    delete store.refused[slot];
    if (store.conflicts[slot]) {
      store.pending[slot] = { value: value, base: store.pending[slot].base };
    } else {
      store.pending[slot] = { value: value, base: store.pending[slot] ? store.pending[slot].base : versionOf(slot) };
    }
    persist();
    render();
    const text = fs.dataset.type === "numeric" || fs.dataset.type === "short" || fs.dataset.type === "essay";
    // (a matching question's selects save like choices)
    schedule(text ? TEXT_DEBOUNCE_MS : CHOICE_DEBOUNCE_MS);
  }

  function keepTheirs(slot) {
    const conflict = store.conflicts[slot];
    if (!conflict) return;
    delete store.conflicts[slot];
    delete store.pending[slot];
    server[slot] = conflict;
    writeValue(fieldsetOf(slot), conflict.value);
    persist();
    render();
  }

  function keepMine(slot) {
    const conflict = store.conflicts[slot];
    if (!conflict) return;
    delete store.conflicts[slot];
    server[slot] = conflict;
    store.pending[slot] = { value: readValue(fieldsetOf(slot)), base: conflict.version };
    persist();
    render();
    schedule(0);
  }

  /* {ok, status, data, message}: the answer, or the refusal (data: its problem details, message: what to show);
   * rejects only when no answer arrived (offline). */
  function request(url, options) {
    return Site.fetchJSON(url, options).then(
      (data) => ({ ok: true, status: 200, data: data || {}, message: "" }),
      (err) => {
        if (err.status === 0) throw err;
        return { ok: false, status: err.status, data: err.problem, message: err.message };
      });
  }

  function send(slot, entry) {
    return request(config.saveUrl.replace("{slot}", slot), {
      method: "PUT", json: { value: entry.value, base: entry.base },
    });
  }

  function conflictArrived(slot, theirs) {
    server[slot] = theirs;
    if (store.pending[slot] && same(store.pending[slot].value, theirs.value)) {
      delete store.pending[slot]; // both devices agree
      delete store.conflicts[slot];
    } else if (store.pending[slot]) {
      store.conflicts[slot] = theirs;
    }
  }

  function flush() {
    if (sending) { again = true; return Promise.resolve(); }
    const slots = Object.keys(store.pending).filter(function (s) { return !store.conflicts[s]; });
    if (fatal || !slots.length) { render(); return Promise.resolve(); }
    sending = true;
    let chain = Promise.resolve();
    let failed = false;
    slots.forEach(function (slot) {
      chain = chain.then(function () {
        if (failed || fatal) return;
        const entry = store.pending[slot];
        if (!entry || store.conflicts[slot]) return;
        return send(slot, entry).then(function (r) {
          networkDown = false;
          if (r.ok) {
            server[slot] = { value: entry.value, version: r.data.version, savedAt: r.data.saved_at };
            store.acked[slot] = server[slot];
            const now = store.pending[slot];
            if (now && same(now.value, entry.value)) delete store.pending[slot];
            else if (now) now.base = r.data.version; // edited again while this one was in flight
            persist();
          } else if (r.status === 409 && r.data.code === "conflict") {
            conflictArrived(slot, { value: r.data.value, version: r.data.version, savedAt: r.data.saved_at });
            persist();
          } else if (r.status === 409 || r.status === 404) {
            fatal = r.message || "This attempt no longer accepts answers.";
            lock();
          } else if (r.status === 400) {
            delete store.pending[slot];
            store.refused[slot] = r.message || "the answer was refused.";
            persist();
          } else {
            failed = true; // 403 (session expired) or 5xx: keep the answer, retry later
            if (r.status === 403) submitError.textContent = r.message || "Your session has expired; log in again in another tab. Your answers are kept on this device.";
          }
        }, function () {
          networkDown = true;
          failed = true;
        });
      });
    });
    return chain.then(function () {
      sending = false;
      render();
      if (failed && !fatal) {
        schedule(RETRY_MS[Math.min(retryIndex++, RETRY_MS.length - 1)]);
      } else {
        retryIndex = 0;
        const left = Object.keys(store.pending).filter(function (s) { return !store.conflicts[s]; }).length;
        if (again || left) { again = false; if (left && !fatal) schedule(50); }
      }
    });
  }

  /* Learn of other devices' saves: versions first (cheap), then the values of those that changed. */
  let polling = false;
  function poll() {
    // A page in a background tab does not ask (it asks again the moment it is shown: visibilitychange).
    if (polling || fatal || submitting || networkDown || document.hidden) return Promise.resolve();
    polling = true;
    const sentAt = Date.now();
    return request(config.versionsUrl)
      .then(function (r) {
        if (!r.ok) return;
        offset = Date.parse(r.data.server_now) - (sentAt + Date.now()) / 2;
        if (r.data.state !== "in_progress") {
          fatal = "This attempt was submitted (on another device or when time ran out); answers can no longer change.";
          lock();
          return;
        }
        // A save of ours in flight raises a version before its answer reaches this page: compare once it has.
        if (sending) return;
        const changed = r.data.answers.filter(function (a) {
          return fieldsetOf(a.slot) && a.version > versionOf(a.slot) &&
            !(store.conflicts[a.slot] && store.conflicts[a.slot].version >= a.version);
        }).map(function (a) { return a.slot; });
        if (!changed.length) return;
        return request(config.versionsUrl + "?values=" + changed.join(",")).then(function (v) {
          if (!v.ok || sending) return;
          v.data.answers.forEach(function (a) {
            if (changed.indexOf(a.slot) === -1 || a.version <= versionOf(a.slot)) return;
            const theirs = { value: a.value, version: a.version, savedAt: a.saved_at };
            if (store.pending[a.slot]) {
              conflictArrived(a.slot, theirs);
            } else {
              server[a.slot] = theirs;
              writeValue(fieldsetOf(a.slot), a.value);
              noteRemoteChange(a.slot);
            }
          });
          persist();
        });
      }, function () { /* offline: the save path notices */ })
      .then(function () { polling = false; render(); }, function () { polling = false; });
  }

  function lock() {
    form.querySelectorAll("input, textarea, select, button").forEach(function (i) { i.disabled = true; });
    submitButton.disabled = true;
    render();
  }

  function submit(auto) {
    if (submitting) return;
    submitError.textContent = "";
    if (!auto && count(store.conflicts)) {
      submitError.textContent = "Choose which answer to keep for question " +
        Object.keys(store.conflicts).map(numberOf).join(", ") + " first.";
      return;
    }
    submitting = true;
    clearTimeout(flushTimer);
    const waitSending = function () {
      return sending ? new Promise(function (r) { setTimeout(r, 50); }).then(waitSending) : Promise.resolve();
    };
    waitSending().then(flush).then(waitSending).then(function () {
      const waiting = Object.keys(store.pending).filter(function (s) { return !store.conflicts[s]; }).length;
      if (waiting && !fatal && !auto) {
        submitting = false;
        submitError.textContent = waiting + " answer(s) are not saved on the server yet. Reconnect and try again; nothing is lost.";
        return;
      }
      return Site.fetchJSON(config.submitUrl, { method: "POST", json: { auto: !!auto } }).then(function () {
        localStorage.removeItem(KEY);
        window.location.assign(config.reviewUrl);
      }, function (err) {
        submitting = false;
        if (err.status) {
          submitError.textContent = err.message || "Submitting failed; try again.";
          return;
        }
        networkDown = true;
        render();
        submitError.textContent = "You are offline. Your answers are kept on this device; submit again once you are back online.";
      });
    });
  }

  function tick() {
    const remaining = Date.parse(config.deadline) - (Date.now() + offset);
    if (remaining <= 0) {
      timerEl.textContent = "Time is up";
      timerEl.classList.add("low");
      if (!submitting && !fatal) submit(true);
      return;
    }
    const s = Math.floor(remaining / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    timerEl.textContent = "Time left " + (h ? h + ":" : "") + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
    timerEl.classList.toggle("low", remaining < 60000);
    setTimeout(tick, 1000 - (remaining % 1000) + 5);
  }

  // Start: the newer of what the page was rendered with and what this device saw acknowledged (a reload can
  // render before a save in flight commits), then what still waits on this device on top.
  Object.keys(store.acked).forEach(function (slot) {
    if (fieldsetOf(slot) && store.acked[slot].version > versionOf(slot)) server[slot] = store.acked[slot];
  });
  Object.keys(store.pending).forEach(function (slot) {
    if (!fieldsetOf(slot)) { delete store.pending[slot]; return; }
    if (server[slot] && same(server[slot].value, store.pending[slot].value)) {
      delete store.pending[slot];
      delete store.conflicts[slot];
    }
  });
  Object.keys(store.conflicts).forEach(function (slot) { if (!store.pending[slot]) delete store.conflicts[slot]; });
  persist();
  form.querySelectorAll("fieldset[data-slot]").forEach(function (fs) {
    const slot = fs.dataset.slot;
    const entry = store.pending[slot] || server[slot];
    if (entry) writeValue(fs, entry.value);
  });

  form.addEventListener("input", onChange);
  form.addEventListener("change", onChange);
  // Ready: the saved answers are in the fields and changes are heard (the page renders them disabled).
  document.getElementById("quiz-inputs").disabled = false;
  submitButton.disabled = false;
  submitButton.addEventListener("click", function () { submit(false); });
  window.addEventListener("online", function () { networkDown = false; retryIndex = 0; render(); flush(); poll(); });
  window.addEventListener("offline", function () { networkDown = true; render(); });
  window.addEventListener("pagehide", persist);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });
  setInterval(poll, POLL_MS);
  render();
  tick();
  if (count(store.pending)) flush();
})();
