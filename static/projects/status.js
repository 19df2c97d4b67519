// Submission page: while the run is queued or running, fetch the page's live part
// (projects/_submission_live.html, rendered by the server: ?fragment=live) and swap it in, until
// the run ends. The server renders status, queue position, log tail and results in one template
// for the page and for these updates, so this script renders nothing itself.
(function () {
  "use strict";
  const live = document.getElementById("submission-live");
  if (!live) return;
  const url = `${window.location.pathname}?fragment=live`;
  let polls = 0;  // every second for the first two minutes, then every 5 s

  async function poll() {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    } catch (err) {
      setTimeout(poll, 5000);  // offline for a moment: ask again
      return;
    }
    if (!response.ok) { setTimeout(poll, 5000); return; }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("submission-live");
    if (!fresh) return;
    live.replaceChildren(...fresh.childNodes);
    live.dataset.terminal = fresh.dataset.terminal;
    polls += 1;
    if (live.dataset.terminal !== "1") setTimeout(poll, polls < 120 ? 1000 : 5000);
  }
  if (live.dataset.terminal !== "1") setTimeout(poll, 500);
})();
