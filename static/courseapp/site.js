// The site's shared script, loaded by base.html on every page before the page's own script.
//
// window.Site: csrfToken(), fetchJSON() (problem details and network failures turned into a
// sentence a person can act on: Site.ApiError), formatDateTime()/formatClock() (the server's one
// format, "2026-11-30 17:13", in the course's time zone), and page behaviours declared in HTML:
//   data-confirm="Question?"  on a form (or a submit button): asks first; Cancel sends nothing.
//   data-copy="ELEMENT_ID"    on a button.copy: copies that element's text.
//   data-select-on-focus      on an input: selects its whole text when focused or clicked.
// A static file, not inline script: the Content-Security-Policy allows no inline script.
// Every page script follows the same pattern: an IIFE, "use strict", const/let, Site.* for the above.
(function () {
  "use strict";

  const TIME_ZONE = document.documentElement.dataset.timeZone || "Europe/Istanbul";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // An API refusal or a failed request. message: what to tell the person; status: the HTTP status
  // (0: no answer arrived); problem: the RFC 9457 body (type, title, status, detail, errors, …) or {}.
  class ApiError extends Error {
    constructor(message, status, problem) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.problem = problem || {};
    }
  }

  // The sentence to show for an error answer: the problem's detail (which already names each
  // field's message), else the field messages, else the status in words.
  function problemMessage(status, body) {
    const problem = body && typeof body === "object" ? body : {};
    if (typeof problem.detail === "string" && problem.detail.trim()) return problem.detail;
    if (Array.isArray(problem.errors) && problem.errors.length) {
      return problem.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join(" ");
    }
    if (status === 401 || status === 403) return "You are not logged in any more, or may not do this; reload the page and log in again.";
    if (status === 404) return "Not found: it may have been removed; reload the page.";
    if (status === 413) return "That is too large for the server to accept.";
    if (status === 429) return "Too many requests; wait a minute and try again.";
    if (status >= 500) return `The server could not complete this (HTTP ${status}); try again in a minute.`;
    return `The request was refused (HTTP ${status}).`;
  }

  // fetch() for the site's JSON API. options: method, json (an object sent as the JSON body), body,
  // headers. Resolves to the parsed body (null for an empty answer); rejects with an ApiError.
  async function fetchJSON(url, options = {}) {
    const method = (options.method || "GET").toUpperCase();
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["Content-Type"] = "application/json";
    }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    let response;
    try {
      response = await fetch(url, { method, headers, body, credentials: "same-origin" });
    } catch (err) {
      throw new ApiError("No connection to the server: check your network and try again.", 0, {});
    }
    const text = await response.text().catch(() => "");
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
    if (!response.ok) throw new ApiError(problemMessage(response.status, data), response.status, data || {});
    return data;
  }

  // The same for an XMLHttpRequest's answer (uploads, which need progress events).
  function xhrResult(xhr) {
    let data = null;
    try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (err) { data = null; }
    if (xhr.status >= 200 && xhr.status < 300) return { ok: true, data };
    if (xhr.status === 0) return { ok: false, error: new ApiError("The connection dropped; try again.", 0, {}) };
    return { ok: false, error: new ApiError(problemMessage(xhr.status, data), xhr.status, data || {}) };
  }

  function parts(iso, timeZone) {
    const date = iso instanceof Date ? iso : new Date(iso);
    if (Number.isNaN(date.getTime())) return null;
    const fields = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone || TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(date).forEach((p) => { fields[p.type] = p.value; });
    return fields;
  }

  // "2026-11-30 17:13": the server's format (courseapp templates), in the course's time zone.
  function formatDateTime(iso, timeZone) {
    const p = iso ? parts(iso, timeZone) : null;
    return p ? `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}` : "";
  }

  // "17:13": the time of day alone (what changed a minute ago on another device).
  function formatClock(iso, timeZone) {
    const p = iso ? parts(iso, timeZone) : null;
    return p ? `${p.hour}:${p.minute}` : "";
  }

  window.Site = { csrfToken, fetchJSON, xhrResult, problemMessage, ApiError, formatDateTime, formatClock, TIME_ZONE };

  // --- behaviours declared in the HTML ---------------------------------------------------------

  // data-confirm on a form, or on the submit button that sends it: Cancel submits nothing.
  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    const question = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();  // nor does a page script that sends the form itself
    }
  }, true);
  // A button that is not a form's submit button (a script's action, e.g. submitting a quiz attempt).
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]:not([type=submit])");
    if (!button || button.form && button.type === "submit") return;
    if (!window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.copy[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(
      () => { button.textContent = "Copied"; },
      () => { button.textContent = "Select and copy it"; },
    );
  });

  const selectAll = (event) => {
    const input = event.target.closest && event.target.closest("[data-select-on-focus]");
    if (input && typeof input.select === "function") input.select();
  };
  document.addEventListener("focusin", selectAll);
  document.addEventListener("click", selectAll);
})();
