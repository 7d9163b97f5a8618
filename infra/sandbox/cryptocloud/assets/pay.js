// Pay page of the CryptoCloud sandbox: acts as the payer through the stand-in's control API.
"use strict";
(function () {
  const uuid = document.body.dataset.uuid;
  const base = "/control/invoices/" + encodeURIComponent(uuid);
  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');
  let secondsLeft = 0;
  let open = false;

  function clock(seconds) {
    const h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
  }

  function render(invoice) {
    open = invoice.open;
    secondsLeft = invoice.seconds_left;
    const status = $("invoice-status");
    status.textContent = invoice.status;
    status.className = "status status-" + invoice.status;
    $("invoice-received").textContent = invoice.received_usd;
    $("invoice-due").textContent = invoice.due_usd;
    $("invoice-time-left").textContent = open ? clock(secondsLeft) : "—";
    document.querySelectorAll("[data-action], input").forEach((el) => { el.disabled = !open; });
  }

  async function call(path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    };
    const response = await fetch(base + path, options);
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function say(text, isError) {
    const result = $("action-result");
    result.textContent = text;
    result.className = isError ? "result error" : "result";
  }

  async function act(action) {
    let path = "/pay", body = {mode: action};
    if (action === "expire") { path = "/expire"; body = {}; }
    if (action === "part" || action === "over") {
      const value = $(action + "-amount").value.trim();
      if (value) body.amount = value;
    }
    try {
      const invoice = await call(path, body);
      render(invoice);
      say("Done: the invoice is now " + invoice.status + ".", false);
    } catch (error) {
      say(error.message, true);
    }
  }

  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => act(button.dataset.action));
  });

  async function refresh() {
    try { render(await call("")); } catch (error) { say(error.message, true); }
  }

  setInterval(() => {
    if (open && secondsLeft > 0) {
      secondsLeft -= 1;
      $("invoice-time-left").textContent = clock(secondsLeft);
    }
  }, 1000);
  setInterval(refresh, 3000);  // picks up changes made elsewhere (API, control, expiry)
  refresh();
})();
