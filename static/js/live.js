// KLINEO live updates: one websocket to /ws/live/ per tab.
// - Connects with the session cookie, resumes after a reconnect with {"type":"resume","since":n}
//   so no event is missed; on "resync" (gap too old to replay) pages reload their state over
//   REST (the "klineo:resync" event; without a listener the page reloads).
// - Dispatches every message as a DOM CustomEvent on document: "klineo:<type>" (e.g.
//   "klineo:order.update", "klineo:fill", "klineo:balance.update", "klineo:position.update",
//   "klineo:connection.status", "klineo:ticker", "klineo:kline") with the message as detail.
// - Shows the state in #live-indicator (data-state idle / up / reconnecting / down).
// - window.KlineoLive.subscribeMarket(symbols, market, environment) keeps market-data
//   subscriptions across reconnects.
// No inline scripts anywhere (CSP): pages pass data through data-* attributes.
(function () {
  "use strict";

  const indicator = document.getElementById("live-indicator");
  if (!indicator || !("WebSocket" in window)) return;

  const CLOSE_UNAUTHENTICATED = 4401;
  let socket = null;
  let lastSeq = null; // highest per-user sequence number applied
  let resuming = false;
  let attempt = 0;
  let retryTimer = null;
  let pingTimer = null;
  const streams = new Map(); // "connection:stream" -> status
  const market = new Map(); // "environment|market" -> Set(symbols)

  function setState(state, title) {
    indicator.dataset.state = state;
    indicator.title = title || "Live updates: " + state;
    const label = indicator.querySelector(".label");
    if (label) label.textContent = state === "up" ? "live" : state;
  }

  function streamsState() {
    const values = Array.from(streams.values());
    if (values.some((s) => s === "down" || s === "refused")) return "down";
    if (values.some((s) => s === "reconnecting" || s === "connecting")) return "reconnecting";
    return "up";
  }

  function showStreams() {
    const state = streamsState();
    const detail = Array.from(streams.entries())
      .map(([key, status]) => key + " " + status)
      .join(", ");
    setState(state, "Live updates connected" + (detail ? " · exchange streams: " + detail : ""));
  }

  function emit(message) {
    const type = message.type || "unknown";
    document.dispatchEvent(new CustomEvent("klineo:" + type, { detail: message }));
    document.dispatchEvent(new CustomEvent("klineo:live", { detail: message }));
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function resume() {
    if (lastSeq === null) return;
    resuming = true;
    send({ type: "resume", since: lastSeq });
  }

  function onHello(message) {
    attempt = 0;
    streams.clear();
    (message.streams || []).forEach((s) => streams.set(s.connection_id + ":" + s.stream, s.status));
    if (lastSeq === null) lastSeq = message.seq;
    else if (message.seq > lastSeq) resume();
    market.forEach((symbols, key) => {
      const [environment, kind] = key.split("|");
      if (symbols.size) send({ type: "subscribe_market_data", symbols: Array.from(symbols), market: kind, environment });
    });
    showStreams();
    emit(message);
  }

  function onSequenced(message) {
    if (message.seq <= lastSeq) return; // already applied (replay overlap)
    if (message.seq > lastSeq + 1) {
      if (!resuming) resume(); // a gap: the replay brings this one too, in order
      return;
    }
    lastSeq = message.seq;
    if (message.type === "connection.status") {
      const d = message.data || {};
      streams.set(d.connection_id + ":" + d.stream, d.status);
      if (d.status === "stopped") streams.delete(d.connection_id + ":" + d.stream);
      showStreams();
    }
    emit(message);
  }

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (message.type === "hello") return onHello(message);
    if (message.type === "resync") {
      lastSeq = message.seq;
      resuming = false;
      const handled = !document.dispatchEvent(
        new CustomEvent("klineo:resync", { detail: message, cancelable: true })
      );
      if (!handled) window.location.reload();
      return;
    }
    if (typeof message.seq === "number") {
      onSequenced(message);
      if (resuming && message.seq >= lastSeq) resuming = false;
      return;
    }
    emit(message); // market data, pong, errors, subscribed
  }

  function connect() {
    clearTimeout(retryTimer);
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/live/");
    socket.addEventListener("message", onMessage);
    socket.addEventListener("open", () => {
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ type: "ping" }), 25000);
    });
    socket.addEventListener("close", (event) => {
      clearInterval(pingTimer);
      resuming = false;
      if (event.code === CLOSE_UNAUTHENTICATED) {
        setState("down", "Live updates stopped: signed out");
        return;
      }
      attempt += 1;
      // Exponential backoff with jitter, capped at 30 s.
      const delay = Math.min(30000, 500 * 2 ** Math.min(attempt, 6)) * (0.8 + Math.random() * 0.4);
      setState("reconnecting", "Live updates reconnecting (attempt " + attempt + ")");
      retryTimer = setTimeout(connect, delay);
    });
  }

  function marketKey(kind, environment) {
    return (environment || "") + "|" + (kind || "spot");
  }

  window.KlineoLive = {
    subscribeMarket(symbols, kind, environment) {
      const key = marketKey(kind, environment);
      const set = market.get(key) || new Set();
      symbols.forEach((s) => set.add(s));
      market.set(key, set);
      const message = { type: "subscribe_market_data", symbols, market: kind || "spot" };
      if (environment) message.environment = environment;
      send(message);
    },
    unsubscribeMarket(symbols, kind, environment) {
      const set = market.get(marketKey(kind, environment));
      if (set) symbols.forEach((s) => set.delete(s));
      const message = { type: "unsubscribe_market_data", symbols, market: kind || "spot" };
      if (environment) message.environment = environment;
      send(message);
    },
    get lastSeq() {
      return lastSeq;
    },
  };

  setState("reconnecting", "Live updates connecting");
  connect();
})();
