// Datasets page: a chunked, resumable upload to the datasets API (docs/harness.md, "Datasets").
// The file is sent in slices of chunk_bytes, each with the offset it starts at; after a failed
// request the page asks the server how much arrived and continues from there (up to 5 tries per
// chunk), so a dropped connection in the middle of a GB upload costs one chunk, not the file.
(function () {
  "use strict";
  var form = document.getElementById("dataset-form");
  if (!form) return;
  var bar = document.getElementById("dataset-progress");
  var message = document.getElementById("dataset-message");
  var button = document.getElementById("dataset-button");
  var base = form.dataset.apiUrl;
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;

  function request(method, url, body, headers) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      Object.keys(headers || {}).forEach(function (k) { xhr.setRequestHeader(k, headers[k]); });
      xhr.addEventListener("load", function () {
        var data = {};
        try { data = JSON.parse(xhr.responseText); } catch (err) { data = {}; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject(new Error(data.detail || ("HTTP " + xhr.status)));
      });
      xhr.addEventListener("error", function () { reject(new Error("the connection dropped")); });
      xhr.send(body);
    });
  }

  function fail(text) {
    message.className = "error"; message.textContent = text; button.disabled = false;
  }

  async function upload(file, name) {
    var state = await request("POST", base, JSON.stringify({name: name, filename: file.name, size: file.size}),
                              {"Content-Type": "application/json"});
    var url = base + state.id + "/";
    var received = 0, tries = 0;
    while (received < file.size) {
      var slice = file.slice(received, received + state.chunk_bytes);
      try {
        received = (await request("PUT", url, slice, {"Content-Type": "application/octet-stream",
                                                      "Upload-Offset": String(received)})).received;
        tries = 0;
      } catch (err) {
        if (++tries > 5) throw err;
        message.textContent = "Retrying after: " + err.message;
        await new Promise(function (r) { setTimeout(r, 1000 * tries); });
        received = (await request("GET", url)).received;  // where to resume
      }
      bar.value = Math.round(100 * received / file.size);
      message.textContent = "Uploaded " + (received / 1048576).toFixed(1) + " of " + (file.size / 1048576).toFixed(1) + " MB";
    }
    message.textContent = "Checking the files and computing the version…";
    return request("POST", url + "finish/");
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = document.getElementById("dataset-file").files[0];
    var name = document.getElementById("dataset-name").value.trim();
    if (!file || !name) { fail("Give the dataset a name and choose its .zip or .tar."); return; }
    bar.hidden = false; bar.value = 0; button.disabled = true; message.className = "";
    upload(file, name).then(function (d) {
      message.textContent = "Registered " + d.name + " version " + d.version.slice(0, 12) + ".";
      window.location.reload();
    }, function (err) { fail("The upload failed: " + err.message); });
  });
})();
