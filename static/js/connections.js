// Connection form: "test these keys" without leaving the page (the secret stays in the field),
// mainnet warning and key-type dependent labels. No inline scripts (CSP): loaded with defer.
(function () {
  "use strict";
  const form = document.getElementById("connection-form");
  if (!form) return;

  const env = form.querySelector("[name=environment]");
  const keyType = form.querySelector("[name=key_type]");
  const secret = form.querySelector("[name=secret]");
  const warning = document.getElementById("mainnet-warning");

  function syncEnvironment() {
    if (env && warning) warning.classList.toggle("hidden", env.value !== "mainnet");
  }
  function syncKeyType() {
    if (!keyType || !secret) return;
    const hmac = keyType.value === "HMAC";
    const label = form.querySelector("label[for='" + secret.id + "']");
    if (label) label.textContent = hmac ? "Secret key" : "Private key (PKCS#8 PEM)";
    secret.placeholder = hmac
      ? "64 letters and digits, shown once by Binance when the key was created"
      : "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----";
  }
  if (env) env.addEventListener("change", syncEnvironment);
  if (keyType) keyType.addEventListener("change", syncKeyType);
  syncEnvironment();
  syncKeyType();

  const testUrl = form.dataset.testUrl;
  const result = document.getElementById("keys-test-result");
  const button = form.querySelector("button[value=test]");
  if (!testUrl || !result || !button) return;

  const MARKS = { pass: "✓", warning: "!", fail: "✕", skipped: "–" };
  const BADGES = { ok: ["ok", "Passed"], warning: ["warn", "Passed with warnings"], fail: ["fail", "Failed"] };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function renderReport(report) {
    const box = el("div", "report report-" + report.status);
    box.setAttribute("data-testid", "test-report");
    box.dataset.status = report.status;
    const summary = el("p", "report-summary");
    const badge = BADGES[report.status] || BADGES.fail;
    summary.append(el("span", "badge " + badge[0], badge[1]), " " + report.summary);
    box.append(summary);
    const list = el("ul", "checks");
    for (const check of report.checks) {
      const item = el("li", "check check-" + check.status + (check.severity ? " check-" + check.severity : ""));
      item.dataset.check = check.id;
      item.dataset.status = check.status;
      const mark = el("span", "check-mark", MARKS[check.status] || "?");
      mark.setAttribute("aria-label", check.status);
      const body = el("div", "check-body");
      const title = el("div", "check-title", check.title);
      if (check.code) title.append(" ", el("span", "muted small mono", "code " + check.code));
      body.append(title, el("div", "check-message", check.message));
      if (check.action) {
        const action = el("div", "check-action");
        action.append(el("strong", null, "What to do:"), " " + check.action);
        body.append(action);
      }
      item.append(mark, body);
      list.append(item);
    }
    box.append(list);
    if (report.clock_skew_ms !== null && report.clock_skew_ms !== undefined) {
      box.append(el("p", "muted small", "Clock offset " + report.clock_skew_ms + " ms · " + report.environment));
    }
    return box;
  }

  function renderError(body) {
    const error = (body && body.error) || {};
    const box = el("div", "form-errors");
    box.setAttribute("role", "alert");
    const fields = error.fields || {};
    const names = Object.keys(fields);
    if (!names.length) box.append(el("p", null, error.message || "The test could not run."));
    for (const name of names) {
      const input = form.querySelector("[name=" + name + "]");
      const label = input ? form.querySelector("label[for='" + input.id + "']") : null;
      for (const message of fields[name]) {
        box.append(el("p", null, (label ? label.textContent + ": " : "") + message));
      }
    }
    return box;
  }

  button.addEventListener("click", async function (event) {
    event.preventDefault();
    const data = {
      environment: env ? env.value : "sandbox",
      key_type: keyType ? keyType.value : "HMAC",
      api_key: form.querySelector("[name=api_key]").value,
      secret: secret ? secret.value : "",
    };
    const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
    button.disabled = true;
    const previous = button.textContent;
    button.textContent = "Testing…";
    result.replaceChildren(el("p", "muted", "Testing the keys against the exchange…"));
    try {
      const response = await fetch(testUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
        body: JSON.stringify(data),
      });
      const body = await response.json().catch(function () { return null; });
      result.replaceChildren(response.ok && body ? renderReport(body) : renderError(body));
    } catch (err) {
      result.replaceChildren(el("p", "form-errors", "The test could not reach this server. Try again."));
    } finally {
      button.disabled = false;
      button.textContent = previous;
    }
  });
})();
