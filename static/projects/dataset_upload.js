// Datasets page: a chunked, resumable upload to the datasets API (docs/harness.md, "Datasets").
// The file is sent in slices of chunk_bytes, each with the offset it starts at; after a failed
// request the page asks the server how much arrived and continues from there (up to 5 tries per
// chunk), so a dropped connection in the middle of a GB upload costs one chunk, not the file.
(function () {
  "use strict";
  const form = document.getElementById("dataset-form");
  if (!form) return;
  const bar = document.getElementById("dataset-progress");
  const message = document.getElementById("dataset-message");
  const button = document.getElementById("dataset-button");
  const base = form.dataset.apiUrl;
  const MB = 1048576;

  function fail(text) {
    message.className = "error"; message.textContent = text; button.disabled = false;
  }
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function upload(file, name) {
    const state = await Site.fetchJSON(base, { method: "POST", json: { name, filename: file.name, size: file.size } });
    const url = `${base}${state.id}/`;
    let received = 0;
    let tries = 0;
    while (received < file.size) {
      const slice = file.slice(received, received + state.chunk_bytes);
      try {
        received = (await Site.fetchJSON(url, {
          method: "PUT", body: slice,
          headers: { "Content-Type": "application/octet-stream", "Upload-Offset": String(received) },
        })).received;
        tries = 0;
      } catch (err) {
        tries += 1;
        if (tries > 5) throw err;
        message.textContent = `Retrying after: ${err.message}`;
        await pause(1000 * tries);
        received = (await Site.fetchJSON(url)).received;  // where to resume
      }
      bar.value = Math.round(100 * received / file.size);
      message.textContent = `Uploaded ${(received / MB).toFixed(1)} of ${(file.size / MB).toFixed(1)} MB`;
    }
    message.textContent = "Checking the files and computing the version…";
    return Site.fetchJSON(`${url}finish/`, { method: "POST" });
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = document.getElementById("dataset-file").files[0];
    const name = document.getElementById("dataset-name").value.trim();
    if (!file || !name) { fail("Give the dataset a name and choose its .zip or .tar."); return; }
    bar.hidden = false; bar.value = 0; button.disabled = true; message.className = "";
    upload(file, name).then((d) => {
      message.textContent = `Registered ${d.name} version ${d.version.slice(0, 12)}.`;
      window.location.reload();
    }, (err) => fail(`The upload failed: ${err.message}`));
  });
})();
