// Subscriber workspace behaviour, loaded as a file because the CSP allows no inline script.
// - htmx actions (redeem, bill now): spinner while waiting; a refusal (4xx) or an unreachable
//   engine (503) is shown in place instead of being dropped, as htmx does by default.
// - New-subscriber form: price plans filtered by payment type, fields shown for the chosen
//   payment method and type, and type-ahead over free MSISDN/IMSI/handsets.
(function () {
  "use strict";

  function forEach(selector, root, fn) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  // ---- htmx actions ---------------------------------------------------------------------------
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status >= 400 && elt && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function busy(elt, on) {
    var form = elt.closest("form") || elt;
    forEach("[data-spinner]", form, function (s) { s.classList.toggle("d-none", !on); });
    forEach("button", form, function (b) { b.disabled = on; });
  }

  document.addEventListener("htmx:beforeRequest", function (event) { busy(event.detail.elt, true); });
  document.addEventListener("htmx:afterRequest", function (event) {
    busy(event.detail.elt, false);
    var form = event.detail.elt.closest("form");
    if (event.detail.successful && form && form.hasAttribute("data-reset-on-success")) {
      form.reset();
    }
  });

  // ---- new subscriber form --------------------------------------------------------------------
  var form = document.getElementById("new-subscriber-form");
  if (!form) { return; }
  var paymentType = form.querySelector("[name=payment_type]");
  var plan = form.querySelector("[name=price_plan]");
  var method = form.querySelector("[name=payment_method]");

  function showPlansFor(type) {
    forEach("option[data-payment-type]", plan, function (option) {
      var fits = option.getAttribute("data-payment-type") === type;
      option.hidden = !fits;
      option.disabled = !fits;
      if (!fits && option.selected) { plan.value = ""; }
    });
    forEach("[data-show-for-payment-type]", form, function (box) {
      box.classList.toggle("d-none", box.getAttribute("data-show-for-payment-type") !== type);
    });
  }

  function showPaymentFields(chosen) {
    forEach("[data-show-for-method]", form, function (box) {
      box.classList.toggle("d-none", box.getAttribute("data-show-for-method") !== chosen);
    });
  }

  paymentType.addEventListener("change", function () { showPlansFor(paymentType.value); });
  method.addEventListener("change", function () { showPaymentFields(method.value); });
  showPlansFor(paymentType.value);
  showPaymentFields(method.value);

  // Type-ahead: as the CSR types digits, ask the CRM for free values with that prefix.
  forEach("input[data-typeahead]", form, function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var asked = "";
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var prefix = input.value.replace(/\D/g, "");
        if (prefix === asked) { return; }
        asked = prefix;
        var url = list.getAttribute("data-source") + "?prefix=" + encodeURIComponent(prefix);
        fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
          .then(function (reply) { return reply.ok ? reply.json() : { options: [] }; })
          .then(function (data) {
            list.replaceChildren.apply(list, data.options.map(function (item) {
              var option = document.createElement("option");
              option.value = item.value;
              option.textContent = item.label;
              return option;
            }));
          })
          .catch(function () { /* keep the previous suggestions while the engine is away */ });
      }, 200);
    });
  });
})();
