// The staff console's shared script: no markup is ever built from strings here.
// - Console.fetch(path, options): fetch with the session's CSRF token on writes.
// - <form data-confirm="…">: asks before submitting.
// - <button data-print>: prints the page.
// - <input type="checkbox" data-check-all="name">: ticks every checkbox named `name`.
(function () {
  "use strict";
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute("content") : "";

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + String(Math.random()).slice(2);
  }

  // A write carries the CSRF token and an idempotency key; the session rides in its HttpOnly cookie.
  async function consoleFetch(path, options) {
    options = Object.assign({ credentials: "same-origin" }, options || {});
    const method = (options.method || "GET").toUpperCase();
    const headers = Object.assign({}, options.headers || {});
    if (method !== "GET" && method !== "HEAD") {
      headers["X-CSRF-Token"] = csrf;
      if (!headers["Idempotency-Key"]) headers["Idempotency-Key"] = newKey();
      if (options.body && typeof options.body === "string" && !headers["Content-Type"]) {
        headers["Content-Type"] = "application/json";
      }
    }
    options.headers = headers;
    const response = await fetch(path, options);
    if (response.status === 401) {
      window.location.href = "/?next=" + encodeURIComponent(window.location.pathname + window.location.search);
    }
    return response;
  }

  // A table row from a list of cell values, each put in as text.
  function row(values, className) {
    const tr = document.createElement("tr");
    if (className) tr.className = className;
    values.forEach((value) => {
      const td = document.createElement("td");
      if (value instanceof Node) td.appendChild(value); else td.textContent = value === null || value === undefined ? "" : String(value);
      tr.appendChild(td);
    });
    return tr;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
  document.addEventListener("click", (event) => {
    const target = event.target.closest ? event.target.closest("[data-print]") : null;
    if (target) { event.preventDefault(); window.print(); }
  });
  document.addEventListener("change", (event) => {
    const box = event.target;
    const name = box.getAttribute && box.getAttribute("data-check-all");
    if (!name) return;
    document.querySelectorAll('input[type="checkbox"][name="' + CSS.escape(name) + '"]').forEach((other) => {
      other.checked = box.checked;
    });
  });

  window.Console = { fetch: consoleFetch, row, element, csrf, newKey };
})();
