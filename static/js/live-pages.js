// Live updates of the server-rendered pages, from the DOM events of live.js:
// - order tables (history, the orders home page): klineo:order.update updates a row in place
//   (status, filled, average price) or inserts a new order on the first page; an order that no
//   longer matches the page's status filter leaves it;
// - an order's page: status, filled, average price, quote total, and klineo:fill adds fills;
// - a connection's spot balances: klineo:balance.update updates free / locked / total and the
//   USDT value (at the prices the page was rendered with; "Refresh" asks for new prices);
// - connection pages: the exchange stream state (hello + klineo:connection.status).
// Order events carry a per-order version: pushes from several processes can arrive out of
// order, so the highest version seen per order wins and older snapshots are ignored.
// Without a live connection the pages reload every 15 s (fallback); klineo:resync reloads.
// No inline scripts (CSP): loaded with defer, data from data-* attributes.
(function () {
  "use strict";

  const STATUS_DISPLAY = {
    NEW: "open", PARTIALLY_FILLED: "partially filled", FILLED: "filled", CANCELED: "canceled",
    REJECTED: "rejected", EXPIRED: "expired",
  };
  const OPEN_STATUSES = ["PENDING", "UNKNOWN", "NEW", "PARTIALLY_FILLED"];

  // ---- small helpers -------------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function flash(node) {
    if (!node) return;
    node.classList.remove("changed");
    void node.offsetWidth; // restart the animation
    node.classList.add("changed");
  }

  function setText(node, text) {
    if (!node || node.textContent === text) return;
    node.textContent = text;
    flash(node);
  }

  // Decimal strings as BigInt fixed point (18 places); never a float for an amount.
  const SCALE = 18;
  const ONE = 10n ** BigInt(SCALE);
  function dec(text) {
    if (text === null || text === undefined) return null;
    let s = String(text).trim().replace(/,/g, "");
    const m = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
    if (!m || (m[2] === "" && !m[3])) return null;
    let digits = (m[2] || "0") + (m[3] || "");
    let point = (m[2] || "0").length + Number(m[4] || 0); // digits before the decimal point
    if (point < 0) {
      digits = "0".repeat(-point) + digits;
      point = 0;
    }
    digits = digits.padEnd(point + SCALE, "0");
    const whole = digits.slice(0, point) || "0";
    const frac = digits.slice(point, point + SCALE);
    const value = BigInt(whole) * ONE + BigInt(frac || "0");
    return m[1] === "-" ? -value : value;
  }
  // Like the `amount` template filter: thousands separators, trailing zeros dropped, or
  // rounded half-up to `places`.
  function fmt(value, places) {
    const neg = value < 0n;
    let v = neg ? -value : value;
    if (places !== undefined) {
      const unit = 10n ** BigInt(SCALE - places);
      v = ((v + unit / 2n) / unit) * unit;
    }
    const whole = (v / ONE).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    let frac = (v % ONE).toString().padStart(SCALE, "0");
    frac = places !== undefined ? frac.slice(0, places) : frac.replace(/0+$/, "");
    return (neg && v !== 0n ? "-" : "") + whole + (frac ? "." + frac : "");
  }
  function plain(text) {
    const v = dec(text);
    return v === null ? "—" : fmt(v);
  }

  function statusBadge(status, reason) {
    if (status === "UNKNOWN" || status === "PENDING") {
      const badge = el("span", "badge warn", "checking…");
      badge.dataset.status = status;
      return badge;
    }
    const cls = status === "FILLED" ? "ok" : status === "REJECTED" ? "fail" : "";
    const badge = el("span", "badge " + cls, STATUS_DISPLAY[status] || status.toLowerCase());
    badge.dataset.status = status;
    if (reason) badge.title = reason;
    return badge;
  }

  // Highest version seen per order id (from the page, then from events).
  const versions = new Map();
  function isNewer(d) {
    const known = versions.get(d.id);
    if (known !== undefined && typeof d.version === "number" && d.version < known) return false;
    if (typeof d.version === "number") versions.set(d.id, d.version);
    return true;
  }
  document.querySelectorAll("[data-order][data-version]").forEach((node) => {
    const id = Number(node.dataset.order);
    const v = Number(node.dataset.version);
    if (!versions.has(id) || versions.get(id) < v) versions.set(id, v);
  });

  function utcTime(ms) {
    return new Date(ms || Date.now()).toISOString().replace("T", " ").slice(0, 19);
  }

  // ---- order tables ------------------------------------------------------------------------
  function matches(table, d) {
    if (table.dataset.connection && String(d.connection) !== table.dataset.connection) return false;
    const status = table.dataset.filterStatus || "";
    if (status === "open" && !OPEN_STATUSES.includes(d.status)) return false;
    if (status === "closed" && OPEN_STATUSES.includes(d.status)) return false;
    if (status && status !== "open" && status !== "closed" && status !== d.status) return false;
    if (table.dataset.filterSymbol && table.dataset.filterSymbol !== d.symbol) return false;
    if (table.dataset.filterMarket && table.dataset.filterMarket !== d.market) return false;
    return true;
  }

  function newOrderRow(d, ts) {
    const row = el("tr");
    row.dataset.order = d.id;
    const time = el("td", "nowrap small mono");
    time.append(el("span", "col-opt", utcTime(ts).slice(0, 11)), utcTime(ts).slice(11));
    const symbol = el("td", "nowrap");
    const link = el("a", null, d.symbol);
    link.href = `/connections/${d.connection}/orders/${d.id}/`;
    symbol.append(link, " ", el("span", "muted small col-opt", d.market === "usdm" ? "futures" : "spot"));
    const quantity = el("td", "num col-opt", d.quantity !== null ? plain(d.quantity) : "—");
    row.append(
      time, symbol, el("td", (d.side || "").toLowerCase(), d.side), el("td", "small col-opt", d.type),
      el("td", "num col-opt", d.price !== null ? plain(d.price) : "—"), quantity,
    );
    const executed = el("td", "num");
    executed.dataset.role = "executed";
    const average = el("td", "num col-opt");
    average.dataset.role = "average";
    const status = el("td");
    status.dataset.role = "status";
    row.append(executed, average, status);
    return row;
  }

  function updateOrderRow(row, d) {
    row.dataset.version = d.version;
    row.dataset.status = d.status;
    setText(row.querySelector("[data-role=executed]"), plain(d.executed_quantity));
    setText(row.querySelector("[data-role=average]"), d.average_price ? plain(d.average_price) : "—");
    const cell = row.querySelector("[data-role=status]");
    const current = cell.firstElementChild;
    if (!current || current.dataset.status !== d.status) {
      cell.replaceChildren(statusBadge(d.status, d.reject_reason));
      flash(cell);
    }
  }

  function applyToTable(table, d, ts) {
    const body = table.tBodies[0];
    let row = body.querySelector(`tr[data-order="${d.id}"]`);
    if (!matches(table, d)) {
      if (row) {
        row.remove();
        if (!body.querySelector("tr[data-order]")) {
          const empty = el("tr");
          empty.dataset.empty = "";
          const cell = el("td", "muted empty-cell", "No orders.");
          cell.colSpan = 9;
          empty.append(cell);
          body.append(empty);
        }
      }
      return;
    }
    if (!row) {
      // Only newer orders than the ones shown go on top of the first page (newest first).
      const shown = Array.from(body.querySelectorAll("tr[data-order]")).map((r) => Number(r.dataset.order));
      if (table.dataset.insert !== "true" || shown.some((id) => id > d.id)) return;
      row = newOrderRow(d, ts);
      body.querySelectorAll("tr[data-empty]").forEach((r) => r.remove());
      body.prepend(row);
      flash(row);
    }
    updateOrderRow(row, d);
  }

  // ---- one order's page ----------------------------------------------------------------------
  const orderPage = document.getElementById("order-live");

  function applyToOrderPage(d) {
    if (!orderPage || String(d.id) !== orderPage.dataset.order) return;
    orderPage.dataset.version = d.version;
    orderPage.dataset.status = d.status;
    const holder = orderPage.querySelector("[data-role=status]");
    const current = holder.firstElementChild;
    if (!current || current.dataset.status !== d.status) {
      holder.replaceChildren(statusBadge(d.status, d.reject_reason));
      flash(holder.firstElementChild);
    }
    const facts = document.querySelector("[data-testid=order-facts]");
    if (!facts) return;
    setText(facts.querySelector("[data-role=executed]"), plain(d.executed_quantity));
    setText(facts.querySelector("[data-role=average]"), d.average_price ? plain(d.average_price) : "—");
    setText(facts.querySelector("[data-role=quote]"), plain(d.cumulative_quote));
  }

  document.addEventListener("klineo:order.update", (event) => {
    const d = (event.detail && event.detail.data) || {};
    if (d.id === undefined || !isNewer(d)) return;
    document.querySelectorAll("table[data-live-orders]").forEach((t) => applyToTable(t, d, event.detail.ts));
    applyToOrderPage(d);
  });

  document.addEventListener("klineo:fill", (event) => {
    const d = (event.detail && event.detail.data) || {};
    if (!orderPage || String(d.order) !== orderPage.dataset.order) return;
    const body = document.querySelector("[data-testid=fills] tbody");
    if (!body || body.querySelector(`tr[data-trade="${d.trade_id}"]`)) return;
    body.querySelectorAll("tr[data-empty]").forEach((r) => r.remove());
    const row = el("tr");
    row.dataset.trade = d.trade_id;
    const time = new Date(event.detail.ts || Date.now()).toISOString().slice(11, 19);
    row.append(
      el("td", "small nowrap mono", time), el("td", "mono small", String(d.trade_id)),
      el("td", "num", plain(d.price)), el("td", "num", plain(d.quantity)),
      el("td", "num", `${plain(d.commission)} ${d.commission_asset || ""}`.trim()), el("td", "small"),
    );
    body.append(row);
    flash(row);
  });

  // ---- spot balances of a connection ---------------------------------------------------------
  const balances = document.querySelector("[data-testid=balances][data-connection]");

  function applyBalances(d) {
    const table = balances.querySelector("[data-testid=balance-table]");
    if (!table) return;
    const body = table.tBodies[0];
    const totalNode = balances.querySelector("[data-total-usdt]");
    let totalUsdt = totalNode ? dec(totalNode.dataset.totalUsdt) : null;
    (d.balances || []).forEach((b) => {
      const free = dec(b.free);
      const locked = dec(b.locked);
      if (free === null || locked === null) return;
      const total = free + locked;
      let row = body.querySelector(`tr[data-asset="${b.asset}"]`);
      if (!row) {
        if (total === 0n) return;
        row = el("tr");
        row.dataset.asset = b.asset;
        const name = el("td");
        name.append(el("strong", null, b.asset));
        row.append(name);
        ["free", "locked", "total", "value"].forEach((role) => {
          const cell = el("td", "num", role === "value" ? "—" : "");
          cell.dataset.role = role;
          row.append(cell);
        });
        row.querySelector("[data-role=value]").title = "Refresh for its USDT value";
        body.querySelectorAll("tr[data-empty]").forEach((r) => r.remove());
        body.append(row);
      }
      setText(row.querySelector("[data-role=free]"), fmt(free));
      setText(row.querySelector("[data-role=locked]"), fmt(locked));
      setText(row.querySelector("[data-role=total]"), fmt(total));
      const price = dec(row.dataset.priceUsdt);
      if (price !== null) {
        const value = (total * price) / ONE;
        const before = dec(row.dataset.valueUsdt);
        if (totalUsdt !== null && before !== null) totalUsdt += value - before;
        row.dataset.valueUsdt = fmt(value).replace(/,/g, "");
        setText(row.querySelector("[data-role=value]"), fmt(value, 2));
      }
    });
    if (totalNode && totalUsdt !== null) {
      totalNode.dataset.totalUsdt = fmt(totalUsdt).replace(/,/g, "");
      setText(totalNode.querySelector("[data-role=total-usdt]"), fmt(totalUsdt, 2));
    }
    const note = balances.querySelector("[data-role=balances-note]");
    if (note) note.textContent = "Updated live at " + utcTime(Date.now()).slice(11) + " UTC.";
  }

  if (balances) {
    document.addEventListener("klineo:balance.update", (event) => {
      const d = (event.detail && event.detail.data) || {};
      if (String(d.connection_id) !== balances.dataset.connection || d.market !== "spot") return;
      applyBalances(d);
    });
  }

  // ---- exchange stream state of connections ------------------------------------------------
  const STREAM_LABEL = { spot: "spot", usdm: "futures" };
  const STREAM_STATE = {
    up: ["ok", "live"], connecting: ["warn", "connecting"], reconnecting: ["warn", "reconnecting"],
    down: ["fail", "down"], refused: ["fail", "refused"], stopped: ["", "stopped"],
  };
  const streamStates = new Map(); // connection id -> Map(stream -> {status, reason})
  const holders = document.querySelectorAll("[data-stream-state]");

  function renderStreams(holder) {
    const states = streamStates.get(holder.dataset.connection) || new Map();
    const nodes = [];
    Array.from(states.entries()).sort().forEach(([stream, s]) => {
      const [cls, word] = STREAM_STATE[s.status] || ["", s.status];
      const badge = el("span", "badge stream " + cls, `${STREAM_LABEL[stream] || stream} ${word}`);
      badge.dataset.stream = stream;
      badge.dataset.status = s.status;
      badge.title = `Exchange ${STREAM_LABEL[stream] || stream} stream: ${s.status}` + (s.reason ? ` (${s.reason})` : "");
      nodes.push(badge);
      if (s.reason && s.status !== "up") nodes.push(el("span", "stream-reason small muted", s.reason));
    });
    if (!nodes.length) {
      const none = el("span", "badge", "not streaming");
      none.title = "No exchange stream runs for this connection (is run_streams started?)";
      nodes.push(none);
    }
    holder.replaceChildren(...nodes);
  }

  function setStream(d) {
    const id = String(d.connection_id);
    if (!streamStates.has(id)) streamStates.set(id, new Map());
    if (d.status === "stopped") streamStates.get(id).delete(d.stream);
    else streamStates.get(id).set(d.stream, { status: d.status, reason: d.reason || "" });
  }

  if (holders.length) {
    document.addEventListener("klineo:hello", (event) => {
      streamStates.clear();
      (event.detail.streams || []).forEach(setStream);
      holders.forEach(renderStreams);
    });
    document.addEventListener("klineo:connection.status", (event) => {
      const d = (event.detail && event.detail.data) || {};
      setStream(d);
      holders.forEach((h) => {
        if (h.dataset.connection === String(d.connection_id)) {
          renderStreams(h);
          flash(h);
        }
      });
    });
  }

  // ---- fallback and resync -------------------------------------------------------------------
  // These pages are rendered by the server: reloading them is their REST refresh.
  const livePage = orderPage || balances || document.querySelector("table[data-live-orders]");
  if (!livePage) return;
  document.addEventListener("klineo:resync", (event) => {
    event.preventDefault();
    window.location.reload();
  });
  const indicator = document.getElementById("live-indicator");
  let notUpSince = null;
  window.setInterval(() => {
    if (!indicator || indicator.dataset.state === "up") {
      notUpSince = null;
      return;
    }
    // Reload only after the live connection has been away a while, and never over typing.
    notUpSince = notUpSince || Date.now();
    const typing = document.activeElement && /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName);
    if (Date.now() - notUpSince >= 15000 && !typing) window.location.reload();
  }, 5000);
})();
