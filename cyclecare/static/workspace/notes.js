/* Session notes: autosave of the draft editor, the format switch, and the print button.
   No inline script (CSP script-src 'self'); without JavaScript the editor's Save button
   does the same work. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 1500;

  function initPrint() {
    var button = document.querySelector("[data-print]");
    if (button) {
      button.addEventListener("click", function () {
        window.print();
      });
    }
  }

  function initEditor(form) {
    var url = form.getAttribute("data-autosave-url");
    var status = document.getElementById("autosave-status");
    var tokenInput = form.querySelector("input[name=csrfmiddlewaretoken]");
    var timer = null;
    var inFlight = false;
    var again = false;
    var stopped = false;
    var lastSent = serialize();

    function serialize() {
      return new URLSearchParams(new FormData(form)).toString();
    }

    function say(text, state) {
      if (!status) return;
      status.textContent = text;
      status.setAttribute("data-state", state || "");
    }

    function schedule() {
      if (stopped) return;
      say("Unsaved changes", "pending");
      window.clearTimeout(timer);
      timer = window.setTimeout(save, DEBOUNCE_MS);
    }

    function save(keepalive) {
      timer = null;
      if (stopped) return;
      var body = serialize();
      if (body === lastSent) {
        say(status && status.getAttribute("data-saved") || "No changes", "saved");
        return;
      }
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      say("Saving…", "saving");
      fetch(url, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
        keepalive: keepalive === true,
        headers: {
          "Accept": "application/json",
          "X-CSRFToken": tokenInput ? tokenInput.value : ""
        }
      })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (type.indexOf("application/json") === -1) {
            throw new Error("not json");
          }
          return response.json().then(function (data) {
            return { status: response.status, data: data };
          });
        })
        .then(function (result) {
          if (result.status === 200) {
            lastSent = body;
            var label = "Saved " + result.data.saved_label;
            if (status) status.setAttribute("data-saved", label);
            say(label, "saved");
          } else if (result.status === 409) {
            stopped = true;
            say(result.data.detail || "This note is signed and cannot be changed.", "error");
          } else {
            say((result.data.detail || "Not saved.") + " Use Save draft to see why.", "error");
          }
        })
        .catch(function () {
          say("Not saved automatically — use Save draft.", "error");
        })
        .then(function () {
          inFlight = false;
          if (again) {
            again = false;
            save();
          }
        });
    }

    function syncFormat() {
      var checked = form.querySelector("input[name=format]:checked");
      if (checked) form.setAttribute("data-format", checked.value);
    }

    form.addEventListener("input", schedule);
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name === "format") syncFormat();
      schedule();
    });
    form.addEventListener("submit", function () {
      // The button's own POST saves what is on screen; nothing to autosave behind it.
      window.clearTimeout(timer);
      stopped = true;
    });
    // Leaving within the debounce window: send what is pending now.
    window.addEventListener("pagehide", function () {
      if (timer !== null) {
        window.clearTimeout(timer);
        save(true);
      }
    });
    if (status) status.setAttribute("data-saved", status.textContent.trim());
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-autosave-url]");
    if (form) initEditor(form);
    initPrint();
  });
})();
