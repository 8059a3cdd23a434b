/* Study builder: keep the consensus rule's sentence in step with the settings form as the
   facilitator types. The sentences come from the server (data-templates, one per choice
   of rule, "unable to score" handling and group rule) with {field} where a number or a
   band label goes; nothing is fetched. Without this script the sentence is the server's,
   updated on save. */
(function () {
  "use strict";
  var form = document.getElementById("settings-form");
  var out = document.getElementById("rule-sentence");
  if (!form || !out) { return; }
  var templates;
  try { templates = JSON.parse(out.getAttribute("data-templates")); } catch (e) { return; }

  function value(name) {
    var field = form.elements.namedItem(name);
    return field ? String(field.value).trim() : "";
  }

  function update() {
    var median = value("median_min");
    var hasMedian = median !== "" && median !== "0";
    var key = [value("primary_rule"), value("uts"), value("group_rule"),
               value("primary_rule") === "iqr" && hasMedian ? "m" : ""].join("|");
    var template = templates[key];
    if (!template) { return; }
    var scale = form.querySelector('[data-scale="' + value("scale") + '"]');
    var values = {
      agree_pct: value("agree_pct"), disagree_pct: value("disagree_pct"),
      threshold: value("threshold"), max_iqr: value("max_iqr"), median_min: median,
      agree: scale ? scale.getAttribute("data-agree") : "",
      disagree: scale ? scale.getAttribute("data-disagree") : ""
    };
    out.textContent = template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? (values[name] || "?") : whole;
    });
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
})();
