// The phone-order form's SKU search (progressive enhancement: the form and the search work without it).
(function () {
  "use strict";
  var search = document.querySelector("input[data-sku-search]");
  var form = document.getElementById("new-order");
  if (!search || !form) { return; }
  var url = search.getAttribute("data-sku-search");
  var results = document.querySelector("#sku-results tbody");
  var options = document.getElementById("sku-options");
  var known = {};

  function cell(text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    return td;
  }

  function show(skus) {
    results.textContent = "";
    options.textContent = "";
    skus.forEach(function (s) {
      known[s.sku] = s;
      var tr = document.createElement("tr");
      tr.setAttribute("data-sku", s.sku);
      tr.setAttribute("data-price", s.price);
      [cell(s.sku), cell(s.name), cell(s.merchant_id), cell(s.price, "num"), cell(String(s.available), "num")]
        .forEach(function (td) { tr.appendChild(td); });
      tr.lastChild.setAttribute("data-available", "");
      var td = document.createElement("td");
      var use = document.createElement("button");
      use.type = "button";
      use.className = "use-sku";
      use.textContent = document.getElementById("sku-results").getAttribute("data-use-label") || "+";
      td.appendChild(use);
      tr.appendChild(td);
      results.appendChild(tr);
      var option = document.createElement("option");
      option.value = s.sku;
      option.label = s.name + " · " + s.price + " · " + s.available;
      options.appendChild(option);
    });
  }

  var timer = null;
  function lookup(q) {
    if (!q) { return; }
    fetch(url + "?q=" + encodeURIComponent(q), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {skus: []}; })
      .then(function (body) { show(body.skus || []); });
  }
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { lookup(search.value.trim()); }, 200);
  });
  document.getElementById("sku-search-form").addEventListener("submit", function (event) {
    event.preventDefault();
    lookup(search.value.trim());
  });

  function fill(row, s) {
    row.querySelector("input[name^=sku_]").value = s.sku;
    var price = row.querySelector("input[name^=price_]");
    if (!price.value) { price.value = s.price; }
    row.querySelector("[data-line-available]").textContent = String(s.available);
  }
  // "Use" puts the SKU into the first empty line, with its list price and available stock.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.use-sku");
    if (!button) { return; }
    var tr = button.closest("tr");
    var s = known[tr.getAttribute("data-sku")] || {sku: tr.getAttribute("data-sku"), price: tr.getAttribute("data-price"),
      available: tr.querySelector("[data-available]").textContent};
    var empty = Array.prototype.find.call(form.querySelectorAll("#order-lines tr[data-line]"), function (row) {
      return !row.querySelector("input[name^=sku_]").value;
    });
    if (empty) { fill(empty, s); }
  });
  // Typing a SKU into a line looks it up too.
  form.querySelectorAll("input.sku-input").forEach(function (input) {
    input.addEventListener("change", function () {
      var code = input.value.trim();
      if (known[code]) { fill(input.closest("tr"), known[code]); return; }
      fetch(url + "?q=" + encodeURIComponent(code), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {skus: []}; })
        .then(function (body) {
          (body.skus || []).forEach(function (s) { known[s.sku] = s; });
          if (known[code]) { fill(input.closest("tr"), known[code]); }
        });
    });
  });
})();
