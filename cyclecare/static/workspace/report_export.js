// The export's progress bar: polls the JSON status URL every 1.5 s and moves the bar; when the
// export is done (or failed) the page reloads once to show the download links (or why).
// Without JavaScript the page refreshes itself (a <noscript> meta refresh) instead.
(function () {
  "use strict";
  var section = document.getElementById("export-progress");
  if (!section || section.dataset.finished === "true") {
    return;
  }
  var bar = section.querySelector("progress");
  var count = section.querySelector("[data-export-count]");
  var percent = section.querySelector("[data-export-percent]");
  var label = section.querySelector("[data-export-status]");

  function poll() {
    fetch(section.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (progress) {
        bar.max = Math.max(progress.rows_total, 1);
        bar.value = progress.status === "done" ? bar.max : progress.rows_done;
        bar.textContent = progress.percent + "%";
        count.textContent = progress.rows_done + " of " + progress.rows_total + " check-ins";
        percent.textContent = progress.percent;
        label.textContent = progress.status_label;
        if (progress.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1500);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }
  window.setTimeout(poll, 1000);
})();
