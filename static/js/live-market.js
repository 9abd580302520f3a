// The dashboard's live panels: price ticker + candlestick chart for the selected symbol
// (history from GET /api/market/klines, then live "kline" and "ticker" messages through
// live.js), and a feed of the user's live events (orders, fills, balances, positions).
// The chart library (TradingView lightweight-charts, installed by `npm ci`) is loaded from the
// URL in data-charts-src; without it the ticker and the feed still work.
(function () {
  "use strict";

  const panel = document.getElementById("live-market");
  const feed = document.getElementById("live-activity");

  // ---- activity feed ---------------------------------------------------------------------------
  function describe(message) {
    const d = message.data || {};
    switch (message.type) {
      case "order.update":
        return `Order ${d.side} ${d.symbol} ${d.quantity || ""} @ ${d.price || "market"}: ${d.status}` +
          (d.executed_quantity && d.executed_quantity !== "0" ? ` (filled ${d.executed_quantity})` : "");
      case "fill":
        return `Fill ${d.side || ""} ${d.symbol} ${d.quantity} @ ${d.price}`;
      case "balance.update":
        return "Balances (" + d.market + "): " +
          (d.balances || []).slice(0, 4).map((b) => `${b.asset} ${b.free || b.wallet_balance}`).join(", ");
      case "position.update":
        return "Positions: " + (d.positions || []).map((p) => `${p.symbol} ${p.position_amount}`).join(", ");
      case "connection.status":
        return `Exchange stream ${d.stream} of connection ${d.connection_id}: ${d.status}` +
          (d.reason ? ` (${d.reason})` : "");
      default:
        return null;
    }
  }

  if (feed) {
    const list = feed.querySelector("[data-role=events]");
    document.addEventListener("klineo:live", (event) => {
      const message = event.detail;
      const text = describe(message);
      if (!text || !list) return;
      const item = document.createElement("li");
      item.dataset.type = message.type;
      if (message.data && message.data.status) item.dataset.status = message.data.status;
      const time = document.createElement("span");
      time.className = "muted mono small";
      time.textContent = new Date(message.ts || Date.now()).toLocaleTimeString() + " ";
      item.append(time, document.createTextNode(text));
      list.prepend(item);
      while (list.children.length > 50) list.lastChild.remove();
      const empty = feed.querySelector("[data-role=empty]");
      if (empty) empty.remove();
    });
  }

  if (!panel) return;

  // ---- ticker + chart --------------------------------------------------------------------------
  const symbolSelect = panel.querySelector("[data-role=symbol]");
  const priceNode = panel.querySelector("[data-role=price]");
  const changeNode = panel.querySelector("[data-role=change]");
  const chartNode = panel.querySelector("[data-role=chart]");
  const market = panel.dataset.market || "spot";
  let symbol = (symbolSelect && symbolSelect.value) || panel.dataset.symbol;
  let environment = null;
  let series = null;
  let chart = null;

  function loadLibrary() {
    if (window.LightweightCharts) return Promise.resolve(window.LightweightCharts);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = panel.dataset.chartsSrc;
      script.onload = () => resolve(window.LightweightCharts);
      script.onerror = reject;
      document.head.append(script);
    });
  }

  // Chart coordinates are numbers by nature; amounts shown as text stay the server's strings.
  function bar(k) {
    return {
      time: Math.floor(k.open_time / 1000),
      open: Number(k.open),
      high: Number(k.high),
      low: Number(k.low),
      close: Number(k.close),
    };
  }

  async function loadHistory() {
    const url = `${panel.dataset.klinesUrl}?symbol=${encodeURIComponent(symbol)}&interval=1m&limit=300`;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      chartNode.textContent = "Candles are not available for " + symbol + ".";
      return;
    }
    const body = await response.json();
    environment = body.environment;
    panel.dataset.environment = environment;
    if (series) series.setData(body.klines.map(bar));
    const last = body.klines[body.klines.length - 1];
    if (last && priceNode.textContent === "–") priceNode.textContent = price(last.close);
  }

  async function setupChart() {
    try {
      const lib = await loadLibrary();
      chart = lib.createChart(chartNode, {
        autoSize: true,
        // The in-chart logo injects a <style> element, which the CSP refuses; the attribution
        // TradingView's licence asks for is a link under the chart instead (_live_market.html).
        layout: {
          background: { color: "transparent" }, textColor: "#8b97a6", attributionLogo: false,
        },
        grid: { vertLines: { color: "#2a3340" }, horzLines: { color: "#2a3340" } },
        timeScale: { timeVisible: true, secondsVisible: false },
      });
      series = chart.addSeries(lib.CandlestickSeries, {
        upColor: "#16c784", downColor: "#ea3943", borderVisible: false,
        wickUpColor: "#16c784", wickDownColor: "#ea3943",
      });
      chartNode.dataset.ready = "true";
    } catch (e) {
      chartNode.textContent = "The chart library is not installed (run `npm ci`).";
    }
  }

  async function show(newSymbol) {
    if (window.KlineoLive && symbol && environment) {
      window.KlineoLive.unsubscribeMarket([symbol], market, environment);
    }
    symbol = newSymbol;
    panel.dataset.symbol = symbol;
    priceNode.textContent = "–";
    changeNode.textContent = "";
    await loadHistory();
    if (window.KlineoLive) window.KlineoLive.subscribeMarket([symbol], market, environment);
  }

  // "64891.68000000" -> "64891.68": the exchange pads prices to 8 places; keep 2 at least.
  function price(text) {
    const m = /^(-?\d+)(?:\.(\d*?))0*$/.exec(String(text));
    if (!m) return String(text);
    return m[1] + "." + (m[2] || "").padEnd(2, "0");
  }

  function mine(message) {
    return message.symbol === symbol && message.market === market &&
      (!environment || message.environment === environment);
  }

  document.addEventListener("klineo:ticker", (event) => {
    const message = event.detail;
    if (!mine(message)) return;
    priceNode.textContent = price(message.data.last);
    const pct = message.data.change_percent;
    changeNode.textContent = (pct.startsWith("-") ? "" : "+") + pct + "%";
    changeNode.className = pct.startsWith("-") ? "sell" : "buy";
  });

  document.addEventListener("klineo:kline", (event) => {
    const message = event.detail;
    if (!mine(message) || !series || message.data.interval !== "1m") return;
    series.update(bar(message.data));
  });

  // A gap in the user's events: this panel's own state comes from REST, so just reload it.
  document.addEventListener("klineo:resync", (event) => {
    event.preventDefault();
    loadHistory();
  });

  if (symbolSelect) symbolSelect.addEventListener("change", () => show(symbolSelect.value));
  setupChart().then(() => show(symbol));
})();
