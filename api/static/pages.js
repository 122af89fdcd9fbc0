// Shared behaviour of the console's pages (policies, rankings, targets, desk, archive, audit).
// Text only: nothing from the server is put in as markup.
// - <form data-busy="正在…">: on submit the buttons are disabled and the wait is shown, with seconds.
// - [data-flash]: the banner of an action is shown once; its query parameter leaves the address,
//   so reloading or coming back does not show it again, and it goes when another action starts.
// - [data-unit-picker] with radio buttons: the summary names the unit picked.
(function () {
  "use strict";

  function busy(form) {
    const text = form.getAttribute("data-busy");
    form.querySelectorAll("button, input[type=submit]").forEach((button) => { button.disabled = true; });
    let status = form.querySelector(".busy");
    if (!status) {
      status = document.createElement("div");
      status.className = "busy alert warn";
      status.setAttribute("role", "status");
      form.appendChild(status);
    }
    const started = Date.now();
    const show = () => {
      const seconds = Math.floor((Date.now() - started) / 1000);
      status.textContent = text + (seconds > 0 ? "（已用 " + seconds + " 秒）" : "");
    };
    show();
    window.setInterval(show, 1000);
  }

  document.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return;
    document.querySelectorAll("[data-flash]").forEach((banner) => banner.remove());
    const form = event.target;
    if (form.hasAttribute && form.hasAttribute("data-busy")) {
      // let the browser read the buttons first, then lock them
      window.setTimeout(() => busy(form), 0);
    }
  });

  const flashes = document.querySelectorAll("[data-flash]");
  if (flashes.length && window.history && window.history.replaceState) {
    const url = new URL(window.location.href);
    ["published", "done", "cancelled", "received", "counted", "added", "redeemed", "saved"].forEach((name) => {
      url.searchParams.delete(name);
    });
    window.history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
  }

  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches("[data-unit-picker] input[type=radio]")) return;
    const picker = input.closest("[data-unit-picker]");
    const chosen = picker.querySelector("[data-unit-chosen]");
    if (chosen) chosen.textContent = input.getAttribute("data-unit-name") || "";
    picker.open = false;
  });
})();

// The desk's cart: the total against the volunteer's points, before anything is sent.
(function () {
  "use strict";
  document.querySelectorAll("form[data-cart]").forEach((form) => {
    const points = Number(form.getAttribute("data-points") || "0");
    const totalLine = form.querySelector("[data-cart-total]");
    const shortLine = form.querySelector("[data-cart-short]");
    const submit = form.querySelector("button[type=submit]");
    function update() {
      let total = 0;
      const problems = [];
      form.querySelectorAll("input.qty").forEach((input) => {
        const quantity = Number(input.value || "0");
        if (!Number.isInteger(quantity) || quantity < 0) { problems.push(input.getAttribute("data-name") + "：数量应为整数"); return; }
        total += quantity * Number(input.getAttribute("data-price"));
        const stock = input.getAttribute("data-stock");
        if (stock !== null && quantity > Number(stock)) problems.push(input.getAttribute("data-name") + "：库存只有 " + stock);
      });
      totalLine.textContent = "合计 " + total + " 分 · 可用 " + points + " 分";
      if (total > points) problems.unshift("积分不足：还差 " + (total - points) + " 分，请减少物品");
      shortLine.textContent = problems.join("；");
      submit.disabled = total === 0 || problems.length > 0;
    }
    form.addEventListener("input", update);
    update();
  });
})();
