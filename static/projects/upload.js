// Upload page: drag and drop, a progress bar from XHR upload progress, then the status page.
// Without JavaScript the form posts to the page itself and works the same, minus the progress bar.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form) return;
  var input = document.getElementById("file-input");
  var zone = document.getElementById("dropzone");
  var chosen = document.getElementById("chosen");
  var bar = document.getElementById("upload-progress");
  var message = document.getElementById("upload-message");
  var button = document.getElementById("upload-button");
  var maxBytes = parseInt(form.dataset.maxMb, 10) * 1024 * 1024;
  var files = [];

  function setFiles(list) {
    files = Array.prototype.slice.call(list);
    var total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
    chosen.textContent = files.length ? files.map(function (f) { return f.name; }).join(", ") +
      " (" + (total / 1048576).toFixed(2) + " MB)" : "Nothing chosen yet.";
    message.textContent = total > maxBytes ? "That is more than the " + form.dataset.maxMb + " MB limit." : "";
    message.className = total > maxBytes ? "error" : "";
  }
  input.addEventListener("change", function () { setFiles(input.files); });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) { if (e.dataTransfer && e.dataTransfer.files.length) setFiles(e.dataTransfer.files); });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!files.length) { message.textContent = "Choose or drop a file first."; message.className = "error"; return; }
    var data = new FormData();
    files.forEach(function (f) { data.append("file", f, f.name); });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.apiUrl);
    xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false; bar.value = 0; button.disabled = true;
    message.className = ""; message.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) { bar.value = Math.round(100 * ev.loaded / ev.total); }
    });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 201) {
        bar.value = 100; message.textContent = "Received. Opening its status page…";
        window.location.assign(body.url);
        return;
      }
      button.disabled = false;
      message.className = "error";
      message.textContent = body.detail || (body.file && body.file.join(" ")) ||
        "The upload failed (HTTP " + xhr.status + "); try again.";
    });
    xhr.addEventListener("error", function () {
      button.disabled = false; message.className = "error";
      message.textContent = "The connection failed during the upload; try again.";
    });
    xhr.send(data);
  });
})();
