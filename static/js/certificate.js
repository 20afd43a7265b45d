// The certificate button: making the PDF can take a moment the first time, so while it is being made the button
// says so, is marked busy and cannot be pressed twice; the file is then saved as a normal download. Without
// JavaScript (or fetch) the link downloads it directly.
(function () {
  "use strict";
  var links = document.querySelectorAll("a[data-certificate]");
  Array.prototype.forEach.call(links, function (link) {
    link.addEventListener("click", function (event) {
      if (link.getAttribute("aria-busy") === "true") {
        event.preventDefault();
        return;
      }
      if (!window.fetch || !window.URL || !window.URL.createObjectURL) {
        return;
      }
      event.preventDefault();
      var label = link.textContent;
      var status = document.getElementById(link.getAttribute("data-status"));
      link.setAttribute("aria-busy", "true");
      link.classList.add("is-busy");
      link.textContent = link.getAttribute("data-busy-text");
      if (status) {
        status.textContent = link.getAttribute("data-busy-text");
      }
      function done(message) {
        link.removeAttribute("aria-busy");
        link.classList.remove("is-busy");
        link.textContent = label;
        if (status) {
          status.textContent = message || "";
        }
      }
      fetch(link.href, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          var match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
          return response.blob().then(function (blob) {
            var url = URL.createObjectURL(blob);
            var save = document.createElement("a");
            save.href = url;
            save.download = match ? match[1] : "certificate.pdf";
            document.body.appendChild(save);
            save.click();
            save.remove();
            setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
            done(link.getAttribute("data-done-text"));
          });
        })
        .catch(function () {
          done();
          window.location.href = link.href; // the server's own page says what went wrong
        });
    });
  });
})();
