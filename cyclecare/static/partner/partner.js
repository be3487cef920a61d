/* Partner pages: progressive enhancement only. Every form works without this file. */
(function () {
  "use strict";

  // Show a slider's number as it moves; moving an optional slider means answering it.
  document.querySelectorAll('input[type="range"]').forEach(function (input) {
    var output = document.getElementById(input.id + "-value");
    var skip = document.getElementById(input.id + "-skip");
    input.addEventListener("input", function () {
      if (output) {
        output.textContent = input.value;
      }
      if (skip) {
        skip.checked = false;
      }
    });
  });

  // A second tap on "send" sends nothing more (the server would refuse a second one anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-sent", "1");
    });
  });

  // After a failed send, take keyboard and screen-reader users to the list of problems.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();
