// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  var question = document.body.getAttribute("data-confirm") || "Are you sure?";
  // Buttons marked data-confirm ask first (cancel, reject, bulk actions, replay all).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(question)) { event.preventDefault(); }
  });
  // A header checkbox selects every row checkbox of the same name.
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var name = all.getAttribute("data-select-all");
    all.addEventListener("change", function () {
      document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) { box.checked = all.checked; });
    });
  });
  // Export is a download, not a page change: keep the form usable after it.
  var bulk = document.getElementById("bulk");
  if (bulk) {
    bulk.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      bulk.target = submitter && submitter.value === "export" ? "_blank" : "";
    });
  }
})();
