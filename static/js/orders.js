// Order ticket, open orders, positions and the kill switch. Talks to /api/ (session + CSRF).
// No inline scripts (CSP). Amounts stay strings; the % buttons use BigInt fixed-point math so
// no float ever touches an amount.
(function () {
  "use strict";

  const SCALE = 18n;
  const ONE = 10n ** SCALE;

  // ---- decimal strings <-> BigInt fixed point ------------------------------------------------
  function toFixed(text) {
    text = String(text || "0").trim();
    if (!/^\d*\.?\d*$/.test(text) || text === "" || text === ".") return null;
    const [whole, frac = ""] = text.split(".");
    const padded = (frac + "0".repeat(Number(SCALE))).slice(0, Number(SCALE));
    return BigInt(whole || "0") * ONE + BigInt(padded || "0");
  }
  function fromFixed(value) {
    const neg = value < 0n;
    if (neg) value = -value;
    const whole = value / ONE;
    let frac = (value % ONE).toString().padStart(Number(SCALE), "0").replace(/0+$/, "");
    return (neg ? "-" : "") + whole.toString() + (frac ? "." + frac : "");
  }
  function floorToStep(value, step) {
    if (!step || step <= 0n) return value;
    return (value / step) * step;
  }

  function csrfToken() {
    const input = document.querySelector("[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function api(method, url, body) {
    const options = {
      method,
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = { error: { code: "bad_response", message: "Unexpected answer from the server." } };
    }
    return { ok: response.ok, status: response.status, data };
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }

  function statusBadge(order) {
    if (order.checking) {
      return el("span", { class: "badge warn", "data-status": order.status, text: "checking…" });
    }
    const cls = order.status === "FILLED" ? "ok" : order.status === "REJECTED" ? "fail" : "";
    const badge = el("span", {
      class: "badge " + cls,
      "data-status": order.status,
      text: order.status_display.toLowerCase(),
    });
    if (order.reject_reason) badge.title = order.reject_reason;
    return badge;
  }

  // ---- kill switch (also on the orders home page) ----------------------------------------
  const kill = document.getElementById("kill-switch");
  if (kill) {
    kill.querySelector("[data-action=kill-switch]").addEventListener("click", async () => {
      const enabled = kill.dataset.enabled !== "true";
      const question = enabled
        ? "Turn the kill switch ON? Every open order on all your connections is cancelled and new orders are refused."
        : "Turn the kill switch off and allow trading again?";
      if (!window.confirm(question)) return;
      const out = kill.querySelector("[data-role=kill-switch-result]");
      const r = await api("POST", "/api/kill-switch", { enabled });
      if (r.ok) {
        out.textContent = enabled
          ? `Kill switch on. Cancelled ${r.data.canceled} order(s).` +
            (r.data.failed.length ? ` ${r.data.failed.length} could not be cancelled: ` +
              r.data.failed.map((f) => `${f.symbol || ""} ${f.message}`).join("; ") : "")
          : "Kill switch off.";
        window.setTimeout(() => window.location.reload(), 1200);
      } else if (r.data.error && r.data.error.code === "reauth_required") {
        window.location.href = r.data.error.reauth_url.split("?")[0] + "?next=" + encodeURIComponent(location.pathname);
      } else {
        out.textContent = r.data.error ? r.data.error.message : "Failed.";
      }
    });
  }

  const app = document.getElementById("orders-app");
  if (!app) return;
  const connection = app.dataset.connection;
  const market = app.dataset.market;
  const futures = market === "usdm";
  const mainnet = app.dataset.mainnet === "true";
  const base = `/api/connections/${connection}`;
  const form = document.getElementById("order-ticket");
  const errorsBox = form.querySelector("[data-role=ticket-errors]");
  const resultBox = form.querySelector("[data-role=ticket-result]");
  let rules = null;
  let hedgeMode = false;

  const field = (name) => form.querySelector(`[name=${name}]`);
  const side = () => form.querySelector("[name=side]:checked").value;
  const symbol = () => field("symbol").value;
  const type = () => field("type").value;

  const NEEDS = {
    price: ["LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP", "TAKE_PROFIT", "OCO"],
    stop_price: ["STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "OCO"],
    stop_limit_price: ["OCO"],
    time_in_force: ["LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "STOP", "TAKE_PROFIT"],
  };

  function syncType() {
    form.querySelectorAll("[data-show]").forEach((node) => {
      node.classList.toggle("hidden", !NEEDS[node.dataset.show].includes(type()));
    });
    const unit = field("unit");
    if (unit && type() !== "MARKET") unit.value = "base";
    const place = form.querySelector("[data-action=place]");
    place.classList.toggle("buy", side() === "BUY");
    place.classList.toggle("sell", side() === "SELL");
    place.textContent = `${side() === "BUY" ? "Buy" : "Sell"} ${symbol()}`;
    updateBalanceHint();
  }

  function clearMessages() {
    errorsBox.classList.add("hidden");
    errorsBox.textContent = "";
    resultBox.classList.add("hidden");
    form.querySelectorAll("[data-error]").forEach((n) => (n.textContent = ""));
  }

  function showError(error) {
    errorsBox.textContent = error.message || "The order was refused.";
    errorsBox.classList.remove("hidden");
    Object.entries(error.fields || {}).forEach(([name, messages]) => {
      const target = form.querySelector(`[data-error=${name}]`);
      if (target) target.textContent = messages.join(" ");
    });
  }

  function orderBody() {
    const body = { symbol: symbol(), side: side(), type: type() };
    const amount = field("amount").value.trim();
    if (field("unit") && field("unit").value === "quote") body.quote_quantity = amount;
    else body.quantity = amount;
    if (NEEDS.price.includes(type())) body.price = field("price").value.trim();
    if (NEEDS.stop_price.includes(type())) body.stop_price = field("stop_price").value.trim();
    if (NEEDS.time_in_force.includes(type())) body.time_in_force = field("time_in_force").value;
    if (futures) {
      if (field("reduce_only").checked) body.reduce_only = true;
      if (hedgeMode) body.position_side = field("position_side").value;
    }
    if (type() === "OCO") {
      const limit = field("stop_limit_price").value.trim();
      return {
        symbol: body.symbol, side: body.side, quantity: body.quantity, price: body.price,
        stop_price: body.stop_price, stop_limit_price: limit || null,
      };
    }
    return body;
  }

  function endpoint(check) {
    if (type() === "OCO") return `${base}/orders/oco`;
    const prefix = futures ? `${base}/futures/orders` : `${base}/orders`;
    return check ? prefix + "/test" : prefix;
  }

  async function checkOrder() {
    clearMessages();
    if (type() === "OCO") {
      resultBox.textContent = "OCO orders are checked when placed.";
      resultBox.classList.remove("hidden");
      return;
    }
    const r = await api("POST", endpoint(true), orderBody());
    if (!r.ok) return showError(r.data.error);
    let text = "The exchange would accept this order.";
    const c = r.data.commission;
    if (c && c.estimate) text += ` Estimated fee: ${c.estimate} ${c.asset} (taker ${c.taker_rate}).`;
    if (!r.data.exchange_checked) text = "The order passes KLINEO's checks (conditional orders cannot be test-sent).";
    resultBox.textContent = text;
    resultBox.classList.remove("hidden");
  }

  const dialog = document.getElementById("confirm-dialog");
  function confirmMainnet(body) {
    return new Promise((resolve) => {
      if (!mainnet) return resolve(true);
      dialog.querySelector("[data-role=confirm-summary]").textContent =
        `${body.side} ${body.quantity || body.quote_quantity} ${body.symbol} ${body.type || "OCO"}` +
        (body.price ? ` @ ${body.price}` : "");
      const done = (value) => {
        dialog.close();
        resolve(value);
      };
      dialog.querySelector("[data-action=confirm-ok]").onclick = () => done(true);
      dialog.querySelector("[data-action=confirm-cancel]").onclick = () => done(false);
      dialog.showModal();
    });
  }

  async function placeOrder(event) {
    event.preventDefault();
    clearMessages();
    const body = orderBody();
    if (!(await confirmMainnet(body))) return;
    if (mainnet) body.confirm = true;
    const button = form.querySelector("[data-action=place]");
    button.disabled = true;
    try {
      const r = await api("POST", endpoint(false), body);
      if (!r.ok) {
        if (r.data.error && r.data.error.code === "reauth_required") {
          window.location.href = r.data.error.reauth_url.split("?")[0] + "?next=" + encodeURIComponent(location.pathname);
          return;
        }
        return showError(r.data.error);
      }
      const orders = Array.isArray(r.data) ? r.data : [r.data];
      resultBox.textContent = orders
        .map((o) => `${o.side} ${o.type} ${o.symbol}: ${o.checking ? "sent, checking…" : o.status_display.toLowerCase()}`)
        .join("; ");
      resultBox.classList.remove("hidden");
      refresh();
    } finally {
      button.disabled = false;
    }
  }

  // ---- rules, balance hint, price helpers and % buttons ------------------------------------
  async function loadRules() {
    const r = await api("GET", `${base}/symbols/${symbol()}/rules?market=${market}`);
    rules = r.ok ? r.data : null;
    updateBalanceHint();
  }

  function lotStep() {
    if (!rules) return null;
    const lot = rules.filters.find((f) => f.filter_type === "LOT_SIZE");
    return lot ? toFixed(lot.step_size) : null;
  }

  function updateBalanceHint() {
    const hint = form.querySelector("[data-role=balance-hint]");
    if (!hint) return;
    if (!rules) return (hint.textContent = "");
    const parts = [];
    if (rules.available) parts.push(`Available: ${rules.available.free} ${rules.available.asset}`);
    if (rules.sellable && !futures) {
      parts.push(`Sellable: ${rules.sellable.amount} ${rules.base_asset}` +
        (rules.sellable.is_dust ? " (dust: too small to sell)" : ""));
    }
    hint.textContent = parts.join(" · ");
  }

  form.querySelectorAll("[data-price]").forEach((button) => {
    button.addEventListener("click", async () => {
      await loadRules();
      if (!rules) return;
      const which = button.dataset.price;
      const value = which === "bid" ? rules.bid : which === "ask" ? rules.ask : rules.reference_price;
      if (value && value !== "None") field("price").value = value;
    });
  });

  form.querySelectorAll("[data-pct]").forEach((button) => {
    button.addEventListener("click", async () => {
      await loadRules();
      if (!rules) return;
      const pct = BigInt(button.dataset.pct);
      const step = lotStep();
      let amount = null;
      if (side() === "SELL" && rules.sellable && !futures) {
        amount = floorToStep((toFixed(rules.sellable.amount) * pct) / 100n, step);
      } else if (rules.available) {
        const price = toFixed(field("price").value) || toFixed(rules.reference_price);
        if (field("unit") && field("unit").value === "quote") {
          field("amount").value = fromFixed((toFixed(rules.available.free) * pct) / 100n);
          return;
        }
        if (price && price > 0n) {
          amount = floorToStep(((toFixed(rules.available.free) * pct) / 100n) * ONE / price, step);
        }
      }
      if (amount !== null) field("amount").value = fromFixed(amount);
    });
  });

  // ---- open orders, recent orders, positions -----------------------------------------------
  function orderRow(o, withCancel) {
    const cells = [
      el("td", { text: o.symbol }),
      el("td", { class: o.side.toLowerCase(), text: o.side }),
      el("td", { text: o.type }),
    ];
    if (withCancel) {
      cells.push(el("td", { class: "num", text: o.price || "market" }));
      cells.push(el("td", { class: "num", text: o.quantity || o.quote_quantity || "" }));
    }
    cells.push(el("td", { class: "num", text: o.executed_quantity }));
    if (!withCancel) cells.push(el("td", { class: "num", text: o.average_price || "—" }));
    cells.push(el("td", {}, [statusBadge(o)]));
    if (withCancel) {
      const cancel = el("button", {
        type: "button", class: "button small secondary", "data-cancel": o.id, text: "Cancel",
      });
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        const r = await api("DELETE", `${base}/orders/${o.id}`);
        if (!r.ok) showError(r.data.error);
        refresh();
      });
      cells.push(el("td", {}, [cancel]));
    }
    return el("tr", { "data-order": o.id, "data-status": o.status }, cells);
  }

  function fill(tbody, rows, empty, cols) {
    tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, [el("td", { colspan: cols, class: "muted", text: empty })])]));
  }

  async function refresh() {
    const open = await api("GET", `${base}/orders?status=open&market=${market}&limit=100`);
    if (open.ok) {
      fill(app.querySelector("[data-role=open-orders]"), open.data.results.map((o) => orderRow(o, true)), "No open orders.", 8);
      // Orders still being checked: ask for their detail, which refreshes them from the exchange.
      open.data.results.filter((o) => o.checking).forEach((o) => api("GET", `${base}/orders/${o.id}`));
    }
    const recent = await api("GET", `${base}/orders?market=${market}&limit=10`);
    if (recent.ok) {
      fill(app.querySelector("[data-role=recent-orders]"), recent.data.results.map((o) => orderRow(o, false)), "No orders yet.", 6);
    }
    if (futures) refreshPositions();
  }

  async function refreshPositions() {
    const r = await api("GET", `${base}/futures/positions`);
    const tbody = app.querySelector("[data-role=positions]");
    if (!r.ok) return fill(tbody, [], r.data.error.message, 7);
    hedgeMode = r.data.hedge_mode;
    app.querySelector("[data-role=position-mode]").textContent = hedgeMode ? "hedge mode" : "one-way mode";
    form.querySelector("[data-role=position-side]").classList.toggle("hidden", !hedgeMode);
    const rows = r.data.positions.map((p) => {
      const close = el("button", { type: "button", class: "button small danger", text: "Close", "data-close": p.symbol });
      close.addEventListener("click", async () => {
        const body = { symbol: p.symbol };
        if (hedgeMode) body.position_side = p.position_side;
        if (!(await confirmMainnet({ side: "CLOSE", quantity: p.amount, symbol: p.symbol, type: "MARKET" }))) return;
        if (mainnet) body.confirm = true;
        close.disabled = true;
        const res = await api("POST", `${base}/futures/positions/close`, body);
        if (!res.ok) showError(res.data.error);
        refresh();
      });
      const pnl = p.unrealized_pnl;
      return el("tr", { "data-position": p.symbol }, [
        el("td", { text: p.symbol }),
        el("td", { class: p.side === "LONG" ? "buy" : "sell", text: hedgeMode ? p.position_side : p.side }),
        el("td", { class: "num", text: p.amount }),
        el("td", { class: "num", text: p.entry_price }),
        el("td", { class: "num", text: p.mark_price }),
        el("td", { class: "num " + (pnl.startsWith("-") ? "sell" : "buy"), text: pnl }),
        el("td", {}, [close]),
      ]);
    });
    fill(tbody, rows, "No open positions.", 7);
  }

  app.querySelector("[data-action=cancel-all]").addEventListener("click", async () => {
    if (!window.confirm(`Cancel every open ${symbol()} order?`)) return;
    const r = await api("DELETE", `${base}/orders?symbol=${symbol()}&market=${market}`);
    if (!r.ok) showError(r.data.error);
    refresh();
  });

  if (futures) {
    const out = app.querySelector("[data-role=settings-result]");
    app.querySelector("[data-action=set-leverage]").addEventListener("click", async () => {
      const r = await api("POST", `${base}/futures/leverage`, { symbol: symbol(), leverage: Number(app.querySelector("[name=leverage]").value) });
      out.textContent = r.ok ? `Leverage ${r.data.leverage}x on ${r.data.symbol}.` : r.data.error.message;
    });
    app.querySelector("[data-action=set-margin]").addEventListener("click", async () => {
      const r = await api("POST", `${base}/futures/margin-type`, { symbol: symbol(), margin_type: app.querySelector("[name=margin_type]").value });
      out.textContent = r.ok ? `${r.data.margin_type} margin on ${r.data.symbol}${r.data.changed ? "" : " (already)"}.` : r.data.error.message;
    });
  }

  form.addEventListener("submit", placeOrder);
  form.querySelector("[data-action=check]").addEventListener("click", checkOrder);
  field("type").addEventListener("change", syncType);
  field("symbol").addEventListener("change", () => { loadRules(); syncType(); });
  form.querySelectorAll("[name=side]").forEach((r) => r.addEventListener("change", syncType));
  syncType();
  loadRules();
  refresh();
  window.setInterval(refresh, 4000);
})();
