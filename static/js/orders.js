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

  const STATUS_DISPLAY = {
    PENDING: "Pending", UNKNOWN: "Checking…", NEW: "Open", PARTIALLY_FILLED: "Partially filled",
    FILLED: "Filled", CANCELED: "Canceled", REJECTED: "Rejected", EXPIRED: "Expired",
  };
  const OPEN_STATUSES = ["PENDING", "UNKNOWN", "NEW", "PARTIALLY_FILLED"];

  // An order.update event's data -> the shape of the orders API (status_display, checking).
  function fromEvent(d) {
    return Object.assign({}, d, {
      connection: d.connection,
      status_display: STATUS_DISPLAY[d.status] || d.status,
      checking: d.status === "PENDING" || d.status === "UNKNOWN",
    });
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
  // Newest snapshot per order id: order.update events carry a per-order version, and pushes
  // from different processes (web, run_streams, the worker) can arrive out of order.
  const latest = new Map(); // id -> order (API shape)
  function newest(o) {
    const known = latest.get(o.id);
    if (known && typeof known.version === "number" && typeof o.version === "number" &&
        known.version > o.version) return known;
    latest.set(o.id, o);
    return o;
  }

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

  function emptyRow(text, cols) {
    return el("tr", { "data-empty": "" }, [el("td", { colspan: cols, class: "muted empty-cell", text })]);
  }

  function fill(tbody, rows, empty, cols) {
    tbody.replaceChildren(...(rows.length ? rows : [emptyRow(empty, cols)]));
  }

  function flashRow(row) {
    row.classList.remove("changed");
    void row.offsetWidth; // restart the animation
    row.classList.add("changed");
  }

  const openBody = app.querySelector("[data-role=open-orders]");
  const recentBody = app.querySelector("[data-role=recent-orders]");

  // Put one order (already the newest snapshot) into the open and recent tables in place.
  function showOrder(o) {
    const open = OPEN_STATUSES.includes(o.status);
    const current = openBody.querySelector(`tr[data-order="${o.id}"]`);
    if (open) {
      const row = orderRow(o, true);
      if (current) current.replaceWith(row);
      else {
        openBody.querySelectorAll("tr[data-empty]").forEach((r) => r.remove());
        openBody.prepend(row);
      }
      flashRow(row);
    } else if (current) {
      current.remove();
      if (!openBody.querySelector("tr[data-order]")) fill(openBody, [], "No open orders.", 8);
    }
    const previous = recentBody.querySelector(`tr[data-order="${o.id}"]`);
    const row = orderRow(o, false);
    if (previous) previous.replaceWith(row);
    else {
      recentBody.querySelectorAll("tr[data-empty]").forEach((r) => r.remove());
      recentBody.prepend(row);
      while (recentBody.querySelectorAll("tr[data-order]").length > 10) recentBody.lastElementChild.remove();
    }
    flashRow(row);
  }

  // Events that arrive while a REST refresh is in flight are applied again after it rendered,
  // so an older REST answer never hides a newer pushed state.
  let refreshing = 0;
  let arrivedDuringRefresh = [];

  async function refresh() {
    refreshing += 1;
    try {
      const open = await api("GET", `${base}/orders?status=open&market=${market}&limit=100`);
      if (open.ok) {
        const orders = open.data.results.map(newest).filter((o) => OPEN_STATUSES.includes(o.status));
        fill(openBody, orders.map((o) => orderRow(o, true)), "No open orders.", 8);
        // Orders still being checked: ask for their detail, which refreshes them from the exchange.
        orders.filter((o) => o.checking).forEach((o) => api("GET", `${base}/orders/${o.id}`));
      }
      const recent = await api("GET", `${base}/orders?market=${market}&limit=10`);
      if (recent.ok) {
        fill(recentBody, recent.data.results.map(newest).map((o) => orderRow(o, false)), "No orders yet.", 6);
      }
    } finally {
      refreshing -= 1;
    }
    if (!refreshing) {
      const again = arrivedDuringRefresh;
      arrivedDuringRefresh = [];
      again.forEach((id) => showOrder(latest.get(id)));
    }
    if (futures) refreshPositions();
  }

  document.addEventListener("klineo:order.update", (event) => {
    const d = (event.detail && event.detail.data) || {};
    if (String(d.connection) !== String(connection) || d.market !== market) return;
    const o = newest(fromEvent(d));
    if (o.version !== d.version) return; // an older snapshot than one already shown
    showOrder(o);
    if (refreshing) arrivedDuringRefresh.push(o.id);
  });

  const positionsBody = app.querySelector("[data-role=positions]");

  async function refreshPositions() {
    const r = await api("GET", `${base}/futures/positions`);
    const tbody = positionsBody;
    if (!r.ok) return fill(tbody, [], r.data.error.message, 7);
    hedgeMode = r.data.hedge_mode;
    app.querySelector("[data-role=position-mode]").textContent = hedgeMode ? "hedge mode" : "one-way mode";
    form.querySelector("[data-role=position-side]").classList.toggle("hidden", !hedgeMode);
    fill(tbody, r.data.positions.map(positionRow), "No open positions.", 7);
  }

  function positionRow(p) {
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
    return el("tr", { "data-position": p.symbol, "data-position-side": p.position_side || "BOTH" }, [
      el("td", { text: p.symbol }),
      el("td", { class: p.side === "LONG" ? "buy" : "sell", text: hedgeMode ? p.position_side : p.side }),
      el("td", { class: "num", "data-role": "size", text: p.amount }),
      el("td", { class: "num", "data-role": "entry", text: p.entry_price }),
      el("td", { class: "num", "data-role": "mark", text: p.mark_price }),
      el("td", { class: "num " + (pnl.startsWith("-") ? "sell" : "buy"), "data-role": "pnl", text: pnl }),
      el("td", {}, [close]),
    ]);
  }

  // position.update carries size, entry and unrealised PnL (no mark price): show them at once,
  // then ask the positions API once for mark and liquidation prices.
  let positionsTimer = null;
  function refreshPositionsSoon() {
    clearTimeout(positionsTimer);
    positionsTimer = setTimeout(refreshPositions, 400);
  }

  // "0.010" (the exchange's text) -> "0.01", as the positions API shows it.
  function plainText(text) {
    const s = String(text || "").trim();
    const neg = s.startsWith("-");
    const v = toFixed(neg ? s.slice(1) : s);
    return v === null ? s : fromFixed(neg ? -v : v);
  }

  function isZero(text) {
    const v = toFixed(String(text || "0").replace(/^-/, ""));
    return v === null || v === 0n;
  }

  if (futures) {
    document.addEventListener("klineo:position.update", (event) => {
      const d = (event.detail && event.detail.data) || {};
      if (String(d.connection_id) !== String(connection)) return;
      const seen = new Set();
      (d.positions || []).forEach((p) => {
        const key = `tr[data-position="${p.symbol}"][data-position-side="${p.position_side || "BOTH"}"]`;
        seen.add(key);
        const row = positionsBody.querySelector(key);
        if (isZero(p.position_amount)) {
          if (row) row.remove();
          return;
        }
        const amount = plainText(p.position_amount);
        const long = !amount.startsWith("-");
        const shown = positionRow({
          symbol: p.symbol, position_side: p.position_side, amount, side: long ? "LONG" : "SHORT",
          entry_price: plainText(p.entry_price), unrealized_pnl: plainText(p.unrealized_profit),
          mark_price: row ? row.querySelector("[data-role=mark]").textContent : "…",
        });
        if (row) row.replaceWith(shown);
        else {
          positionsBody.querySelectorAll("tr[data-empty], tr:not([data-position])").forEach((r) => r.remove());
          positionsBody.prepend(shown);
        }
        flashRow(shown);
      });
      if (d.snapshot) {
        positionsBody.querySelectorAll("tr[data-position]").forEach((row) => {
          const key = `tr[data-position="${row.dataset.position}"][data-position-side="${row.dataset.positionSide}"]`;
          if (!seen.has(key)) row.remove();
        });
      }
      if (!positionsBody.querySelector("tr[data-position]")) fill(positionsBody, [], "No open positions.", 7);
      refreshPositionsSoon();
    });
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

  // Live updates replace polling. Only while the live connection is not up (connecting,
  // reconnecting, down) does a slow fallback refresh run; after a gap that cannot be replayed
  // (resync) the state is reloaded over REST.
  const FALLBACK_REFRESH_MS = Number(app.dataset.fallbackRefreshMs || 15000);
  const indicator = document.getElementById("live-indicator");
  window.setInterval(() => {
    if (!indicator || indicator.dataset.state !== "up") refresh();
  }, FALLBACK_REFRESH_MS);
  document.addEventListener("klineo:resync", (event) => {
    event.preventDefault();
    refresh();
  });
})();
