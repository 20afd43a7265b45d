// Newsletters: live preview while composing, live progress while sending. Every page works without this file:
// "Save and preview" shows the saved previews, and the report has a reload button.
(function () {
  "use strict";

  function debounce(fn, wait) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, wait);
    };
  }

  // ---- live preview ------------------------------------------------------------------------------------------
  // The HTML preview is a real navigation of the frame (a hidden form posted into it), so the mail's inline
  // styles are governed by the preview's own Content-Security-Policy, not this page's.
  function setUpPreview(form) {
    var token = form.querySelector("input[name=csrf_token]").value;
    var htmlUrl = form.getAttribute("data-preview-url");
    var textUrl = form.getAttribute("data-preview-text-url");

    function fieldsOf(section) {
      var values = { language: section.getAttribute("data-language"), csrf_token: token };
      section.querySelectorAll("[data-part]").forEach(function (input) {
        values[input.getAttribute("data-part")] = input.value;
      });
      return values;
    }

    function postIntoFrame(values, frameName) {
      var hidden = document.createElement("form");
      hidden.method = "post";
      hidden.action = htmlUrl;
      hidden.target = frameName;
      hidden.hidden = true;
      Object.keys(values).forEach(function (name) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = values[name];
        hidden.appendChild(input);
      });
      document.body.appendChild(hidden);
      hidden.submit();
      hidden.remove();
    }

    function refresh(section) {
      var values = fieldsOf(section);
      var language = values.language;
      var textBox = section.querySelector(".preview-text");
      var problem = section.querySelector(".preview-problem");
      if (!values.subject && !values.body) { return; }
      postIntoFrame(values, "preview-frame-" + language);
      var body = new URLSearchParams(values);
      fetch(textUrl, { method: "POST", body: body, credentials: "same-origin",
                       headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          textBox.textContent = data.text;
          problem.hidden = !data.problem;
          problem.textContent = data.problem || "";
        })
        .catch(function () { /* the saved preview stays; nothing to do */ });
    }

    form.querySelectorAll("section.variant").forEach(function (section) {
      var update = debounce(function () { refresh(section); }, 500);
      section.addEventListener("input", update);
    });
  }

  // ---- images: insert with a description -----------------------------------------------------------------------
  function setUpImages(list) {
    list.querySelectorAll(".image-item").forEach(function (item) {
      var alt = item.querySelector(".image-alt");
      var error = item.querySelector(".image-alt-error");
      item.querySelectorAll(".image-insert-button").forEach(function (button) {
        button.hidden = false;
        button.addEventListener("click", function () {
          var description = alt.value.trim();
          if (!description) {
            error.hidden = false;
            alt.setAttribute("aria-invalid", "true");
            alt.focus();
            return;
          }
          error.hidden = true;
          alt.removeAttribute("aria-invalid");
          var body = document.getElementById("body_" + button.getAttribute("data-language"));
          if (!body) { return; }
          var markdown = "![" + description.replace(/([\[\]\\])/g, "\\$1") + "](" + item.getAttribute("data-url") + ")";
          var start = body.selectionStart || body.value.length;
          var end = body.selectionEnd || start;
          var before = body.value.slice(0, start);
          var after = body.value.slice(end);
          var lead = before && !/\n\n$/.test(before) ? (/\n$/.test(before) ? "\n" : "\n\n") : "";
          body.value = before + lead + markdown + "\n" + after;
          body.selectionStart = body.selectionEnd = (before + lead + markdown).length;
          body.dispatchEvent(new Event("input", { bubbles: true }));
          body.focus();
        });
      });
    });
  }

  // ---- busy buttons: one press, and the page says it is working ------------------------------------------------
  function setUpBusy(form) {
    form.addEventListener("submit", function (event) {
      var button = form.querySelector("button[type=submit]");
      if (!button) { return; }
      if (button.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
      button.setAttribute("aria-busy", "true");
      var label = button.getAttribute("data-busy-label");
      if (label) {
        button.setAttribute("data-idle-label", button.textContent);
        button.textContent = label;
      }
      // Disabled after the submission has started, so the browser still sends the form.
      setTimeout(function () { button.disabled = true; }, 0);
    });
    // Back from the next page (the browser's cache keeps the page as it was): the button works again.
    window.addEventListener("pageshow", function (event) {
      var button = form.querySelector("button[type=submit]");
      if (!event.persisted || !button || button.getAttribute("aria-busy") !== "true") { return; }
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (button.hasAttribute("data-idle-label")) { button.textContent = button.getAttribute("data-idle-label"); }
    });
  }

  // ---- live progress -----------------------------------------------------------------------------------------
  function setUpProgress(panel) {
    var url = panel.getAttribute("data-progress-url");
    var reload = document.getElementById("reload");
    var bar = document.getElementById("progress-bar");
    var initial = panel.getAttribute("data-status");
    if (initial !== "sending" && initial !== "paused") { return; }
    if (reload) { reload.hidden = true; }
    // Once Pause, Resume or Cancel is pressed the answer of that press decides what the page shows: a poll that
    // answers meanwhile must not reload the old page over it (it would say "paused" after Resume).
    var leaving = false;
    var timer = null;
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function () { leaving = true; clearTimeout(timer); });
    });
    window.addEventListener("pagehide", function () { leaving = true; clearTimeout(timer); });

    function set(id, value) {
      var element = document.getElementById(id);
      if (element) { element.textContent = Number(value).toLocaleString(document.documentElement.lang); }
    }

    function poll() {
      if (leaving) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (leaving) { return; }
          if (!data) { throw new Error("no data"); }
          bar.max = Math.max(data.total, 1);
          bar.value = data.done;
          bar.textContent = data.percent + "%";
          set("count-sent", data.sent);
          set("count-failed", data.failed);
          set("count-pending", data.pending);
          set("count-cancelled", data.cancelled);
          set("count-skipped", data.skipped);
          set("count-after-stop", data.after_stop);
          document.getElementById("progress-percent").textContent = data.percent;
          document.getElementById("progress-status").textContent = data.status_name;
          if (data.status !== initial) {
            // Finished, paused or resumed elsewhere: the page's buttons change, so load it again, without the
            // notice of the press that led here ("Sending is paused."), which may no longer be true.
            leaving = true;
            window.location.replace(window.location.pathname);
            return;
          }
          timer = setTimeout(poll, 1500);
        })
        .catch(function () {
          if (leaving) { return; }
          if (reload) { reload.hidden = false; }
          timer = setTimeout(poll, 5000);
        });
    }
    timer = setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("compose-form");
    if (form) { setUpPreview(form); }
    var images = document.querySelector(".image-list");
    if (images) { setUpImages(images); }
    document.querySelectorAll("form[data-busy]").forEach(setUpBusy);
    var panel = document.getElementById("progress-panel");
    if (panel) { setUpProgress(panel); }
  });
})();
