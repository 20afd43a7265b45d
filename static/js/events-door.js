// The door: scan a ticket's QR with the camera (or a photo of it), check it in without leaving the page, and
// keep the arrived / expected count live. Without JavaScript the code field and the search by name do the same.
(function () {
  "use strict";
  var form = document.getElementById("code-form");
  var scan = document.getElementById("scan");
  if (!form || !scan || typeof window.jsQR !== "function") { return; }
  var result = document.getElementById("door-result");
  var count = document.getElementById("door-count");
  var video = document.getElementById("scan-video");
  var canvas = document.getElementById("scan-canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });
  var lastCode = "", lastAt = 0, busy = false;
  scan.hidden = false;

  function show(data) {
    var box = document.createElement("div");
    box.className = "alert " + (data.outcome === "arrived" ? "alert-success" : "alert-error") + " door-" + data.outcome;
    box.setAttribute("role", "status");
    var strong = document.createElement("strong");
    strong.textContent = data.message;
    var p = document.createElement("p");
    p.appendChild(strong);
    box.appendChild(p);
    if (data.name) {
      var who = document.createElement("p");
      who.className = "door-person";
      who.textContent = data.name + (data.guests ? " + " + data.guests_text : "");
      box.appendChild(who);
    }
    result.replaceChildren(box);
    if (typeof data.arrived === "number") { count.dataset.arrived = data.arrived; refresh(); }
  }

  function submit(code) {
    if (busy) { return; }
    busy = true;
    var body = new FormData(form);
    body.set("code", code);
    fetch(form.action, { method: "POST", body: body, headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(show)
      .catch(function () { form.querySelector("input[name=code]").value = code; form.submit(); })
      .finally(function () { busy = false; });
  }

  function decode(width, height) {
    var image = context.getImageData(0, 0, width, height);
    var found = window.jsQR(image.data, width, height, { inversionAttempts: "attemptBoth" });
    if (!found || !found.data) { return false; }
    var now = Date.now();
    if (found.data === lastCode && now - lastAt < 3000) { return true; }  // the same code still in view
    lastCode = found.data; lastAt = now;
    submit(found.data);
    return true;
  }

  function tick() {
    if (video.readyState === video.HAVE_ENOUGH_DATA) {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      decode(canvas.width, canvas.height);
    }
    window.requestAnimationFrame(tick);
  }

  document.getElementById("scan-start").addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.play();
      window.requestAnimationFrame(tick);
    }).catch(function () { /* no camera: the photo button and the search still work */ });
  });

  document.getElementById("scan-file").addEventListener("change", function (event) {
    var file = event.target.files && event.target.files[0];
    if (!file) { return; }
    // A bitmap, not an <img> with a blob: address, which the Content-Security-Policy (img-src) refuses.
    window.createImageBitmap(file).then(function (bitmap) {
      canvas.width = bitmap.width; canvas.height = bitmap.height;
      context.drawImage(bitmap, 0, 0);
      lastCode = "";
      decode(canvas.width, canvas.height);
      event.target.value = "";
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = form.querySelector("input[name=code]").value.trim();
    if (code) { lastCode = ""; submit(code); }
  });

  function refresh() {
    fetch(count.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) { count.textContent = count.dataset.template.replace("{arrived}", data.arrived).replace("{expected}", data.expected); })
      .catch(function () {});
  }
  window.setInterval(refresh, 5000);
})();
