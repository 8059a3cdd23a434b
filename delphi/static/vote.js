// The voting page: keep what is typed on this device, autosave to the server, and
// ask for a reason when a rating moves to another band. The page works without it.
(function () {
  "use strict";

  var receipt = document.querySelector("[data-clear-storage]");
  if (receipt) {
    try { localStorage.removeItem(receipt.getAttribute("data-clear-storage")); } catch (e) {}
    return;
  }
  var form = document.getElementById("vote-form");
  if (!form) { return; }
  var key = form.getAttribute("data-storage-key");
  var status = document.getElementById("autosave-status");
  var timer = null;

  function say(text) { if (status) { status.textContent = text; } }

  function snapshot() {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.name === "round" || el.name === "action") { return; }
      if (el.type === "radio") { if (el.checked) { data[el.name] = el.value; } }
      else if (el.tagName === "TEXTAREA") { if (el.value) { data[el.name] = el.value; } }
    });
    return data;
  }

  function keepLocally() {
    try { localStorage.setItem(key, JSON.stringify({ saved: Date.now(), data: snapshot() })); } catch (e) {}
  }

  function restore() {
    var stored;
    try { stored = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { stored = null; }
    if (!stored || !stored.data) { return; }
    var restored = 0;
    Object.keys(stored.data).forEach(function (name) {
      var value = stored.data[name];
      var fields = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
      if (!fields.length || fields[0].disabled) { return; }
      if (fields[0].type === "radio") {
        var anyChecked = Array.prototype.some.call(fields, function (f) { return f.checked; });
        if (!anyChecked) {
          Array.prototype.forEach.call(fields, function (f) { if (f.value === value) { f.checked = true; restored++; } });
        }
      } else if (!fields[0].value) {
        fields[0].value = value; restored++;
        var details = fields[0].closest("details"); if (details) { details.open = true; }
      }
    });
    if (restored) { say("Restored " + restored + " answer(s) you typed earlier on this device; they are not saved yet."); schedule(); }
  }

  function autosave() {
    var body = new FormData(form);
    body.set("action", "autosave");
    fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
                         headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.ok) { return r.json().then(function (j) { say("Saved at " + new Date(j.saved_at).toLocaleTimeString() + "."); }); }
        if (r.status === 403) { say("Your session has ended. Your answers are kept on this device: open your personal link again."); return; }
        return r.json().then(function (j) {
          var first = j.errors ? j.errors[Object.keys(j.errors)[0]] : "";
          say("Not saved: " + first);
        });
      })
      .catch(function () { say("Not saved yet (no connection). Your answers are kept on this device; we will try again."); schedule(); });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(autosave, 1500);
  }

  function bandOf(value, fieldset) {
    var input = fieldset.querySelector('input[type="radio"][value="' + value + '"]');
    if (!input) { return null; }
    var label = input.closest("label");
    var m = label && label.className.match(/band-(\w+)/);
    return m ? m[1] : null;
  }

  function updateReason(fieldset) {
    var previous = fieldset.getAttribute("data-previous-band");
    var reason = fieldset.querySelector(".reason");
    if (!previous || !reason) { return; }
    var checked = fieldset.querySelector('input[type="radio"]:checked');
    var moved = checked && checked.value !== "uts" && bandOf(checked.value, fieldset) !== previous;
    reason.classList.toggle("reason-asked", !!moved);
    reason.hidden = !moved && !reason.querySelector("textarea").value;
  }

  form.addEventListener("input", function (event) {
    keepLocally();
    schedule();
    var fieldset = event.target.closest("fieldset.item");
    if (fieldset) { updateReason(fieldset); }
  });
  form.addEventListener("change", function (event) {
    var fieldset = event.target.closest("fieldset.item");
    if (fieldset) { updateReason(fieldset); }
  });
  Array.prototype.forEach.call(form.querySelectorAll("fieldset.item"), updateReason);
  var errors = document.getElementById("errors");
  // A page with errors already shows what matters (what was typed, or what another tab saved).
  if (!errors) { restore(); }
  if (errors) { errors.focus(); }
})();
