// The voting page: keep what is typed on this device (for a day at most), autosave to
// the server, count what is answered, and ask for a reason when a rating moves to
// another band. The page works without it.
(function () {
  "use strict";

  var PREFIX = "delphi-vote-";
  var KEEP_MS = 24 * 60 * 60 * 1000; // answers kept on this device expire after a day

  function forget(key) { try { localStorage.removeItem(key); } catch (e) {} }

  // Drop every expired copy kept on this device, whichever round or panellist it was for.
  try {
    for (var i = localStorage.length - 1; i >= 0; i--) {
      var k = localStorage.key(i);
      if (k && k.indexOf(PREFIX) === 0) {
        var kept = null;
        try { kept = JSON.parse(localStorage.getItem(k)); } catch (e) { kept = null; }
        if (!kept || typeof kept.saved !== "number" || Date.now() - kept.saved > KEEP_MS) { forget(k); }
      }
    }
  } catch (e) {}

  var receipt = document.querySelector("[data-clear-storage]");
  if (receipt) { forget(receipt.getAttribute("data-clear-storage")); return; }
  var form = document.getElementById("vote-form");
  if (!form) { return; }
  var key = form.getAttribute("data-storage-key");
  // Never form.action: a control named "action" would shadow it (see panel/answers.py).
  var url = form.getAttribute("action");
  var status = document.getElementById("autosave-status");
  var bar = form.querySelector(".actions");
  var timer = null;
  var submitting = false;

  function say(text) { if (status) { status.textContent = text; } }

  function snapshot() {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.name === "round" || el.type === "submit") { return; }
      if (el.type === "radio") { if (el.checked) { data[el.name] = el.value; } }
      else if (el.tagName === "TEXTAREA") { if (el.value) { data[el.name] = el.value; } }
    });
    return data;
  }

  function keepLocally() {
    if (submitting) { return; }
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
    if (submitting) { return; }
    var body = new FormData(form);
    body.set("intent", "autosave");
    fetch(url, { method: "POST", body: body, credentials: "same-origin",
                 headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.ok) { return r.json().then(function (j) {
          var at = new Date(j.saved_at);
          say("Saved at " + (isNaN(at) ? new Date() : at).toLocaleTimeString() + ".");
        }); }
        if (r.status === 403) { say("Your session has ended. Your answers are kept on this device: open your personal link again."); return; }
        return r.json().then(function (j) {
          var first = j.errors ? j.errors[Object.keys(j.errors)[0]] : "";
          say("Not saved: " + first);
        }, function () { say("Not saved yet (the server answered " + r.status + "). Your answers are kept on this device; we will try again."); schedule(); });
      })
      .catch(function () { say("Not saved yet (no connection). Your answers are kept on this device; we will try again."); schedule(); });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(autosave, 1500);
  }

  // Progress: "23 of 56 answered", per section, and a link to the next blank statement.
  var items = form.querySelectorAll("fieldset.item");
  function answered(fieldset) { return !!fieldset.querySelector('input[type="radio"]:checked'); }
  function progress() {
    var done = 0, next = null, sections = {};
    Array.prototype.forEach.call(items, function (fieldset) {
      var ok = answered(fieldset);
      if (ok) { done++; } else if (!next) { next = fieldset; }
      var section = fieldset.closest("section.vote-section");
      if (section) {
        var s = sections[section.id] || (sections[section.id] = [0, 0]);
        s[0] += ok ? 1 : 0; s[1]++;
      }
    });
    var count = document.getElementById("progress-count");
    if (count) { count.textContent = done; }
    var meter = document.getElementById("progress-bar");
    if (meter) { meter.value = done; }
    var link = document.getElementById("next-unanswered");
    if (link) { link.hidden = !next; if (next) { link.setAttribute("href", "#" + next.id); } }
    Array.prototype.forEach.call(document.querySelectorAll(".section-count[data-section]"), function (span) {
      var s = sections["section-" + span.getAttribute("data-section")];
      if (s) { span.textContent = s[0] + " of " + s[1] + " answered"; }
    });
  }

  // Keep a focused control clear of the sticky bar (WCAG 2.4.11): scroll-padding follows
  // the bar's real height, which changes with the width and the status text.
  function padForBar() {
    if (bar) { document.documentElement.style.setProperty("--sticky-bar", bar.offsetHeight + "px"); }
  }
  if (bar) {
    padForBar();
    if (window.ResizeObserver) { new ResizeObserver(padForBar).observe(bar); }
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
    progress();
  });
  form.addEventListener("change", function (event) {
    var fieldset = event.target.closest("fieldset.item");
    if (fieldset) { updateReason(fieldset); }
    progress();
  });
  // Before a submit with blank statements: how many and which, and ask. The server asks
  // too when this does not run (its /vote/confirm page); "confirmed" tells it we did.
  var dialog = document.getElementById("confirm-dialog");
  var confirmed = false;
  function askFirst(button) {
    var blank = Array.prototype.filter.call(items, function (f) { return !answered(f); });
    if (!blank.length || confirmed || !dialog || !dialog.showModal) { return false; }
    document.getElementById("confirm-title").textContent = blank.length + " statement" +
      (blank.length > 1 ? "s" : "") + " not answered yet (" + (items.length - blank.length) +
      " of " + items.length + " answered)";
    var list = document.getElementById("confirm-list");
    list.textContent = "";
    blank.forEach(function (fieldset) {
      var legend = fieldset.querySelector("legend");
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = "#" + fieldset.id;
      a.textContent = legend ? legend.textContent.trim() : fieldset.id;
      li.appendChild(a);
      list.appendChild(li);
    });
    dialog.showModal();
    document.getElementById("confirm-submit").onclick = function () {
      confirmed = true;
      var flag = document.createElement("input");
      flag.type = "hidden"; flag.name = "confirmed"; flag.value = "1";
      form.appendChild(flag);
      dialog.close();
      form.requestSubmit(button);
    };
    return true;
  }
  if (dialog) {
    document.getElementById("confirm-back").addEventListener("click", function () { dialog.close(); });
    document.getElementById("confirm-list").addEventListener("click", function (event) {
      if (event.target.closest("a")) { dialog.close(); }
    });
  }

  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.value === "submit") {
      if (askFirst(event.submitter)) { event.preventDefault(); return; }
      // A submit ends what this device keeps: the answers go to the server now.
      submitting = true;
      if (timer) { clearTimeout(timer); }
      forget(key);
    }
  });
  Array.prototype.forEach.call(items, updateReason);
  progress();
  var errors = document.getElementById("errors");
  // A page with errors already shows what matters (what was typed, or what another tab saved).
  if (!errors) { restore(); }
  if (errors) { errors.focus(); }
})();
