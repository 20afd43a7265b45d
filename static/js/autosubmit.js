// Submits a form marked data-autosubmit once, as soon as the page has loaded: a confirmation or login link opened
// in a browser completes by itself, while a mail scanner that only fetches the page (GET) changes nothing.
// Without JavaScript the form's own button does the same.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (!form || form.getAttribute("data-submitted")) {
    return;
  }
  form.setAttribute("data-submitted", "1");
  form.submit();
})();
