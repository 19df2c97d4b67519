/* Taking a quiz without ever losing an answer.
 *
 * Every change is written at once to localStorage (the queue survives reloads and
 * crashes), then sent to the server, debounced. Each answer carries a client
 * sequence number, increasing per answer (max(Date.now(), last + 1)); the server
 * keeps a save only if its number is higher than the stored one, so a slow, stale
 * request never overwrites a newer answer. An entry leaves the queue only when the
 * server has acknowledged (after its commit) a sequence number at least as high.
 * Offline, entries wait and are resent when the browser is back online.
 * No framework, no CDN.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("quiz-config").textContent);
  var KEY = "quiz-attempt-" + config.attempt;
  var TEXT_DEBOUNCE_MS = 600;
  var CHOICE_DEBOUNCE_MS = 100;
  var RETRY_MS = [1000, 2000, 4000, 8000, 15000];

  var form = document.getElementById("quiz-form");
  var indicator = document.getElementById("save-state");
  var timerEl = document.getElementById("timer");
  var submitButton = document.getElementById("submit-attempt");
  var submitError = document.getElementById("submit-error");

  var server = config.answers; // slot -> {value, seq}: what the server acknowledged
  // {pending: {slot: {value, seq}} not yet acknowledged, acked: {slot: {value, seq}} acknowledged,
  //  seqs: {slot: last seq used}}
  var store = readStore();
  var sending = false;
  var again = false;
  var flushTimer = null;
  var retryIndex = 0;
  var networkDown = !navigator.onLine;
  var fatal = null; // a refusal that ends the attempt (time is up, already submitted)
  var submitting = false;

  function readStore() {
    try {
      var data = JSON.parse(localStorage.getItem(KEY) || "null");
      if (data && typeof data === "object") {
        data.pending = data.pending || {};
        data.seqs = data.seqs || {};
        data.acked = data.acked || {};
        return data;
      }
    } catch (e) { /* unreadable storage: start empty */ }
    return { pending: {}, seqs: {}, acked: {} };
  }

  function persist() {
    try { localStorage.setItem(KEY, JSON.stringify(store)); } catch (e) { /* full or disabled */ }
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function pendingCount() { return Object.keys(store.pending).length; }

  function nextSeq(slot) {
    var last = Math.max(store.seqs[slot] || 0, (server[slot] && server[slot].seq) || 0,
      store.pending[slot] ? store.pending[slot].seq : 0);
    var seq = Math.max(Date.now(), last + 1);
    store.seqs[slot] = seq;
    return seq;
  }

  function fieldsetOf(slot) { return form.querySelector('fieldset[data-slot="' + slot + '"]'); }

  function readValue(fs) {
    var type = fs.dataset.type;
    var inputs = fs.querySelectorAll("input, textarea");
    if (type === "single" || type === "truefalse") {
      var checked = fs.querySelector("input:checked");
      if (!checked) return null;
      return type === "single" ? parseInt(checked.value, 10) : checked.value === "true";
    }
    if (type === "multi") {
      var ids = [];
      fs.querySelectorAll("input:checked").forEach(function (i) { ids.push(parseInt(i.value, 10)); });
      return ids;
    }
    return inputs.length ? inputs[0].value : null;
  }

  function writeValue(fs, value) {
    var type = fs.dataset.type;
    if (type === "single" || type === "truefalse" || type === "multi") {
      var chosen = Array.isArray(value) ? value.map(String) : (value === null || value === undefined ? [] : [String(value)]);
      fs.querySelectorAll("input").forEach(function (i) { i.checked = chosen.indexOf(i.value) !== -1; });
      return;
    }
    var input = fs.querySelector("input, textarea");
    if (input) input.value = value === null || value === undefined ? "" : value;
  }

  function isBlank(v) { return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0); }

  function render() {
    var n = pendingCount();
    var state, text;
    if (fatal) { state = "error"; text = fatal; }
    else if (networkDown && n) { state = "offline"; text = "Offline — " + n + " answer" + (n > 1 ? "s" : "") + " kept on this device, will be sent when you are back online"; }
    else if (networkDown) { state = "offline"; text = "Offline — your answers are kept on this device"; }
    else if (n) { state = "saving"; text = "Saving…"; }
    else { state = "saved"; text = "All answers saved"; }
    indicator.dataset.state = state;
    indicator.textContent = text;
    document.querySelectorAll(".qnav a").forEach(function (a) {
      var slot = a.dataset.slot;
      var value = store.pending[slot] ? store.pending[slot].value : (server[slot] ? server[slot].value : null);
      a.classList.toggle("answered", !isBlank(value));
      a.classList.toggle("pending", !!store.pending[slot]);
    });
  }

  function schedule(delay) {
    clearTimeout(flushTimer);
    flushTimer = setTimeout(flush, delay);
  }

  function onChange(event) {
    if (fatal) return;
    var fs = event.target.closest("fieldset[data-slot]");
    if (!fs) return;
    var slot = fs.dataset.slot;
    var value = readValue(fs);
    var known = store.pending[slot] || server[slot];
    // "change" after "input" (leaving a text box) repeats a value already queued or saved.
    if (known && JSON.stringify(known.value) === JSON.stringify(value)) return;
    store.pending[slot] = { value: value, seq: nextSeq(slot) };
    persist();
    render();
    var text = fs.dataset.type === "numeric" || fs.dataset.type === "short" || fs.dataset.type === "essay";
    schedule(text ? TEXT_DEBOUNCE_MS : CHOICE_DEBOUNCE_MS);
  }

  function send(slot, entry) {
    return fetch(config.saveUrl.replace("{slot}", slot), {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      body: JSON.stringify({ value: entry.value, seq: entry.seq })
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) { return { res: res, data: data }; });
    });
  }

  function flush() {
    if (sending) { again = true; return Promise.resolve(); }
    if (fatal || !pendingCount()) { render(); return Promise.resolve(); }
    sending = true;
    var slots = Object.keys(store.pending);
    var chain = Promise.resolve();
    var failed = false;
    slots.forEach(function (slot) {
      chain = chain.then(function () {
        if (failed || fatal) return;
        var entry = store.pending[slot];
        if (!entry) return;
        return send(slot, entry).then(function (r) {
          networkDown = false;
          if (r.res.ok) {
            if (r.data.seq >= entry.seq) {
              if (!r.data.stale) {
                server[slot] = { value: entry.value, seq: r.data.seq };
                store.acked[slot] = server[slot];
              }
              if (store.pending[slot] && store.pending[slot].seq === entry.seq) delete store.pending[slot];
              persist();
            }
          } else if (r.res.status === 409 || r.res.status === 404) {
            fatal = r.data.detail || "This attempt no longer accepts answers.";
            lock();
          } else if (r.res.status === 400) {
            delete store.pending[slot];
            persist();
            submitError.textContent = "Question " + slot + ": " + (r.data.detail || "the answer was refused.");
          } else {
            failed = true; // 403 (session expired) or 5xx: keep the answer, retry later
            if (r.res.status === 403) submitError.textContent = r.data.detail || "Your session has expired; log in again in another tab. Your answers are kept on this device.";
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
        if (again || pendingCount()) { again = false; if (pendingCount() && !fatal) schedule(50); }
      }
    });
  }

  function lock() {
    form.querySelectorAll("input, textarea").forEach(function (i) { i.disabled = true; });
    submitButton.disabled = true;
    render();
  }

  function submit() {
    if (submitting) return;
    submitting = true;
    submitError.textContent = "";
    clearTimeout(flushTimer);
    var waitSending = function () {
      return sending ? new Promise(function (r) { setTimeout(r, 50); }).then(waitSending) : Promise.resolve();
    };
    waitSending().then(flush).then(waitSending).then(function () {
      if (pendingCount() && !fatal) {
        submitting = false;
        submitError.textContent = pendingCount() + " answer(s) are not saved on the server yet. Reconnect and try again; nothing is lost.";
        return;
      }
      return fetch(config.submitUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
      }).then(function (res) {
        if (res.ok) {
          localStorage.removeItem(KEY);
          window.location.assign(config.reviewUrl);
        } else {
          submitting = false;
          return res.json().catch(function () { return {}; }).then(function (d) {
            submitError.textContent = d.detail || "Submitting failed; try again.";
          });
        }
      }, function () {
        submitting = false;
        networkDown = true;
        render();
        submitError.textContent = "You are offline. Your answers are kept on this device; submit again once you are back online.";
      });
    });
  }

  function tick() {
    var remaining = Date.parse(config.deadline) - (Date.now() + offset);
    if (remaining <= 0) {
      timerEl.textContent = "Time is up";
      timerEl.classList.add("low");
      if (!submitting && !fatal) submit();
      return;
    }
    var s = Math.floor(remaining / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    timerEl.textContent = "Time left " + (h ? h + ":" : "") + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
    timerEl.classList.toggle("low", remaining < 60000);
    setTimeout(tick, 1000 - (remaining % 1000) + 5);
  }

  // Start: the newest of what the page was rendered with, what this device saw acknowledged (a reload
  // can render before a save in flight commits), and what still waits on this device.
  Object.keys(store.acked).forEach(function (slot) {
    if (fieldsetOf(slot) && (!server[slot] || server[slot].seq < store.acked[slot].seq)) server[slot] = store.acked[slot];
  });
  Object.keys(store.pending).forEach(function (slot) {
    if (!fieldsetOf(slot) || (server[slot] && server[slot].seq >= store.pending[slot].seq)) delete store.pending[slot];
  });
  persist();
  form.querySelectorAll("fieldset[data-slot]").forEach(function (fs) {
    var slot = fs.dataset.slot;
    var entry = store.pending[slot] || server[slot];
    if (entry) writeValue(fs, entry.value);
  });
  var offset = Date.parse(config.serverNow) - Date.now();

  form.addEventListener("input", onChange);
  form.addEventListener("change", onChange);
  submitButton.addEventListener("click", submit);
  window.addEventListener("online", function () { networkDown = false; retryIndex = 0; render(); flush(); });
  window.addEventListener("offline", function () { networkDown = true; render(); });
  window.addEventListener("pagehide", persist);
  render();
  tick();
  if (pendingCount()) flush();
})();
