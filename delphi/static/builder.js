/* Study builder: keep the consensus rule's sentence in step with the settings form as the
   facilitator types. The sentence comes from the server (a GET that changes nothing, the
   same text the study page and the report's methods give), so it can never say something
   the engine does not do. Without this script the sentence is the server's, updated on
   save. */
(function () {
  "use strict";
  var form = document.getElementById("settings-form");
  var out = document.getElementById("rule-sentence");
  if (!form || !out) { return; }
  var url = out.getAttribute("data-url");
  var timer = null;
  var latest = 0;

  function update() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token" && typeof value === "string") { params.append(name, value); }
    });
    var ticket = ++latest;
    fetch(url + "?" + params.toString(), { credentials: "same-origin",
                                           headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j && ticket === latest) { out.textContent = j.sentence; } })
      .catch(function () {});
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(update, 250);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
})();
