// Upload page: drag and drop, a progress bar from XHR upload progress, then the status page.
// Without JavaScript the form posts to the page itself and works the same, minus the progress bar.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const chosen = document.getElementById("chosen");
  const bar = document.getElementById("upload-progress");
  const message = document.getElementById("upload-message");
  const button = document.getElementById("upload-button");
  const maxBytes = parseInt(form.dataset.maxMb, 10) * 1024 * 1024;
  let files = [];

  function setFiles(list) {
    files = Array.from(list);
    const total = files.reduce((sum, f) => sum + f.size, 0);
    chosen.textContent = files.length
      ? `${files.map((f) => f.name).join(", ")} (${(total / 1048576).toFixed(2)} MB)`
      : "Nothing chosen yet.";
    message.textContent = total > maxBytes ? `That is more than the ${form.dataset.maxMb} MB limit.` : "";
    message.className = total > maxBytes ? "error" : "";
  }
  function fail(text) {
    button.disabled = false;
    message.className = "error";
    message.textContent = text;
  }
  input.addEventListener("change", () => setFiles(input.files));
  ["dragenter", "dragover"].forEach((name) => {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach((name) => {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", (e) => { if (e.dataTransfer && e.dataTransfer.files.length) setFiles(e.dataTransfer.files); });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!files.length) { message.textContent = "Choose or drop a file first."; message.className = "error"; return; }
    const data = new FormData();
    files.forEach((f) => data.append("file", f, f.name));
    // XMLHttpRequest, not fetch: only it reports upload progress.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.apiUrl);
    xhr.setRequestHeader("X-CSRFToken", Site.csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false; bar.value = 0; button.disabled = true;
    message.className = ""; message.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) bar.value = Math.round(100 * ev.loaded / ev.total);
    });
    xhr.addEventListener("load", () => {
      const result = Site.xhrResult(xhr);
      if (result.ok) {
        bar.value = 100; message.textContent = "Received. Opening its status page…";
        window.location.assign(result.data.url);
        return;
      }
      fail(result.error.message);
    });
    xhr.addEventListener("error", () => fail("The connection failed during the upload; try again."));
    xhr.send(data);
  });
})();
