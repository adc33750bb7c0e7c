// Browser uploads of a study site (templates/studies/uploads/): files, a folder or zip
// archives sent in chunks with a progress bar, then imported on the server; and the upload's
// page, which follows the import until it is done. Protocol: studies/services/uploads.py.
(function () {
  "use strict";

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function human(bytes) {
    if (bytes < 1024) return bytes + " B";
    const units = ["KiB", "MiB", "GiB", "TiB"];
    let value = bytes / 1024, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return value.toFixed(1) + " " + units[unit];
  }

  async function answer(response) {
    let body = {};
    try { body = await response.json(); } catch (e) { body = {}; }
    return body;
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  // --- the upload page ---------------------------------------------------------------------

  function setupUploadForm(form) {
    const pickFiles = document.getElementById("pick-files");
    const pickFolder = document.getElementById("pick-folder");
    const start = document.getElementById("upload-start");
    const errorBox = document.getElementById("upload-error");
    const panel = document.getElementById("upload-progress");
    const overall = document.getElementById("overall-progress");
    const overallText = document.getElementById("overall-text");
    const state = document.getElementById("upload-state");
    const tbody = document.querySelector("#upload-files tbody");

    function fail(message) {
      errorBox.textContent = message;
      errorBox.hidden = false;
      start.disabled = false;
    }

    function chosen() {
      const files = [];
      for (const input of [pickFiles, pickFolder]) {
        for (const file of input.files) files.push(file);
      }
      return files;
    }

    function addRow(file) {
      const row = document.createElement("tr");
      const name = document.createElement("td");
      name.textContent = file.webkitRelativePath || file.name;  // text, never HTML
      const cell = document.createElement("td");
      const bar = document.createElement("progress");
      bar.max = 100; bar.value = 0;
      bar.setAttribute("aria-label", "Sent of " + name.textContent);
      const text = document.createElement("span");
      text.textContent = " 0 %";
      cell.append(bar, text);
      row.append(name, cell);
      tbody.append(row);
      return { bar, text };
    }

    async function sendFile(upload, index, file, row, progress) {
      const chunkBytes = parseInt(form.dataset.chunkBytes, 10);
      let offset = 0, tries = 0;
      while (offset < file.size) {
        const end = Math.min(offset + chunkBytes, file.size);
        let response;
        try {
          response = await fetch(upload.chunk_url + "?file=" + index + "&offset=" + offset, {
            method: "POST", credentials: "same-origin", body: file.slice(offset, end),
            headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/octet-stream" },
          });
        } catch (e) {
          // A lost connection: send the same chunk again (the server acknowledges a repeat).
          tries += 1;
          if (tries > 5) throw new Error("the connection was lost while sending " + file.name);
          await sleep(500 * tries);
          continue;
        }
        const body = await answer(response);
        if (response.status === 409 && typeof body.expected === "number") {
          offset = body.expected;  // the server has more (or less) than we thought: resume there
        } else if (!response.ok) {
          throw new Error(body.error || ("the server answered " + response.status));
        } else {
          offset = body.received;
          tries = 0;
        }
        progress(index, offset);
        const pct = file.size ? Math.floor(100 * offset / file.size) : 100;
        row.bar.value = pct;
        row.text.textContent = " " + pct + " % (" + human(offset) + " of " + human(file.size) + ")";
      }
      row.bar.value = 100;
      row.text.textContent = " 100 % (" + human(file.size) + ")";
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errorBox.hidden = true;
      const files = chosen();
      if (!files.length) { fail("Choose files, a folder or zip archives first."); return; }
      start.disabled = true;
      const declared = files.map((f) => ({ path: f.webkitRelativePath || f.name, size: f.size }));
      let response;
      try {
        response = await fetch(form.dataset.createUrl, {
          method: "POST", credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/json" },
          body: JSON.stringify({ files: declared }),
        });
      } catch (e) { fail("The server cannot be reached: " + e.message); return; }
      const upload = await answer(response);
      if (!response.ok) { fail(upload.error || ("The server answered " + response.status)); return; }

      panel.hidden = false;
      tbody.replaceChildren();
      const total = files.reduce((sum, f) => sum + f.size, 0);
      const sent = new Array(files.length).fill(0);
      const showOverall = () => {
        const done = sent.reduce((a, b) => a + b, 0);
        const pct = total ? Math.floor(100 * done / total) : 100;
        overall.value = pct;
        overallText.textContent = pct + " % (" + human(done) + " of " + human(total) + ")";
      };
      const progress = (index, bytes) => { sent[index] = bytes; showOverall(); };
      state.textContent = "Sending " + files.length + " file(s)…";
      try {
        for (let i = 0; i < files.length; i += 1) {
          await sendFile(upload, i, files[i], addRow(files[i]), progress);
          sent[i] = files[i].size;
        }
      } catch (e) { fail("The upload stopped: " + e.message); return; }
      showOverall();
      state.textContent = "All files sent; starting the import…";
      const finished = await fetch(upload.finish_url, {
        method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
      });
      const body = await answer(finished);
      if (!finished.ok) { fail(body.error || ("The server answered " + finished.status)); return; }
      state.textContent = "All files sent; importing…";
      await showResults(upload, state);
      start.disabled = false;
    });
  }

  // Follow the import, then show the upload page's result table here: the server renders it
  // (escaped); it is parsed as a document and moved in, never run as script.
  async function showResults(upload, state) {
    for (;;) {
      let body = null;
      try {
        const response = await fetch(upload.status_url, { credentials: "same-origin" });
        if (response.ok) body = await response.json();
      } catch (e) { body = null; }
      if (body && body.finished) break;
      if (body) state.textContent = "Import " + body.status_display + "…";
      await sleep(1000);
    }
    const response = await fetch(upload.detail_url, { credentials: "same-origin" });
    const html = new DOMParser().parseFromString(await response.text(), "text/html");
    const results = html.getElementById("upload-results");
    const target = document.getElementById("upload-results");
    if (results && target) target.replaceWith(document.importNode(results, true));
    const link = document.createElement("a");
    link.href = upload.detail_url;
    link.textContent = "this upload's page";
    state.replaceChildren("Import finished. The results are also on ", link, ".");
  }

  // --- the upload's page: follow the import until it is done -------------------------------

  function followStatus(element) {
    if (element.dataset.finished === "1") return;
    const initial = element.textContent.trim();
    const poll = async () => {
      try {
        const response = await fetch(element.dataset.statusUrl, { credentials: "same-origin" });
        if (response.ok) {
          const body = await response.json();
          if (body.finished || body.status_display !== initial) {
            window.location.reload();
            return;
          }
        }
      } catch (e) { /* the server is busy: try again */ }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 1000);
  }

  const form = document.getElementById("upload-form");
  if (form) setupUploadForm(form);
  const status = document.getElementById("upload-status");
  if (status) followStatus(status);
})();
