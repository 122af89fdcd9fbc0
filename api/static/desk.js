// The redemption desk (积分兑换台): the operator's session rides in its HttpOnly cookie;
// every name goes into the page as text (textContent), never as markup.
(() => {
  const $ = (id) => document.getElementById(id);
  const row = window.Console.row, el = window.Console.element;
  const state = { deskId: null, desk: null, volunteer: null,
                  items: [], cart: {}, receipt: null, tab: "redeem" };
  const pending = {};  // write slot -> {fingerprint, key}: a network retry of the same request reuses its key
  const KINDS = { receive: "入库", adjust: "盘点调整", redeem: "兑换", cancel: "撤销", reserve: "预约", release: "预约释放" };
  const STATUS = { posted: "有效", cancelled: "已撤销" };
  const SOURCES = { donation: "捐赠", purchase: "采购", transfer: "调拨", other: "其他" };

  function showError(body) {
    const box = $("error");
    document.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
    if (!body) { box.style.display = "none"; box.textContent = ""; return; }
    ErrorsZh.render(box, body);  // Chinese sentence; the server's message and field in grey below
    box.style.display = "block";
    if (body.field) {
      const leaf = String(body.field).split(".").pop();
      const tab = $("tab-" + state.tab);
      for (const el of (tab ? tab.querySelectorAll("[data-field]") : [])) {
        if (el.dataset.field.split(" ").includes(leaf)) el.classList.add("invalid");
      }
    }
  }

  function notify(text) {
    const box = $("notice");
    box.textContent = text || "";
    box.style.display = text ? "block" : "none";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k-" + Date.now() + "-" + Math.random().toString(16).slice(2);
  }

  async function api(method, path, body, key) {
    const headers = {};  // the session rides in its HttpOnly cookie; Console.fetch adds the CSRF header
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    let response;
    try {
      response = await window.Console.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      const failed = { message: "网络中断，请确认网络后再点一次（重试不会重复记账）", network: true };
      showError(failed);
      throw failed;
    }
    const data = await response.json().catch(() => ({ message: "服务器无响应" }));
    if (!response.ok) { data.status = response.status; showError(data); throw data; }
    showError(null);
    return data;
  }

  // Every write: a fresh Idempotency-Key per attempt; the same key again only when the same
  // request is resent after no answer (network) or a server fault, so it is never applied twice.
  async function write(slot, method, path, body) {
    const fingerprint = method + " " + path + " " + JSON.stringify(body === undefined ? null : body);
    if (!pending[slot] || pending[slot].fingerprint !== fingerprint) pending[slot] = { fingerprint, key: newKey() };
    try {
      const data = await api(method, path, body, pending[slot].key);
      delete pending[slot];
      return data;
    } catch (e) {
      if (!(e && (e.network || e.status >= 500))) delete pending[slot];
      throw e;
    }
  }

  async function busy(button, fn) {
    button.disabled = true;
    try { return await fn(); } catch (e) { return null; /* shown */ } finally { button.disabled = false; }
  }

  async function loadDesks() {
    const desks = await api("GET", "/desks");
    const select = $("desk-select");
    select.replaceChildren();
    for (const d of desks) {
      const option = document.createElement("option");
      option.value = d.id; option.textContent = d.name;
      select.appendChild(option);
    }
    if (!desks.length) showError({ message: "您的账号没有可用的兑换点" });
    return desks;
  }

  $("login-btn").onclick = async () => {
    try {
      if (!$("desk-select").value) await loadDesks();
      state.deskId = Number($("desk-select").value);
      if (!state.deskId) return;
      const desk = await api("GET", `/desks/${state.deskId}`);
      state.desk = desk;
      $("desk-name").textContent = desk.name;
      $("today").textContent = `今天 ${desk.today} · 下次开放 ${desk.next_opening_day}`;
      $("next-day").textContent = desk.next_opening_day;
      $("pickup-day").textContent = desk.today;
      $("recon-day").value = desk.today;
      $("login").classList.add("hidden");
      $("finder").classList.remove("hidden");
      $("find-value").focus();
      await loadItems();
      await loadPickups();
      $("tabs").classList.remove("hidden");
    } catch (e) { /* shown */ }
  };

  // --- tabs --------------------------------------------------------------------------------
  for (const button of document.querySelectorAll("#tabs button")) {
    button.onclick = () => showTab(button.dataset.tab);
  }

  async function showTab(name) {
    state.tab = name;
    showError(null);
    notify(null);
    for (const button of document.querySelectorAll("#tabs button")) {
      button.classList.toggle("active", button.dataset.tab === name);
    }
    for (const tab of document.querySelectorAll("main.tab")) tab.classList.toggle("hidden", tab.id !== "tab-" + name);
    try {
      if (name === "pickup") await loadPickups();
      if (name === "stock") { await loadItems(); await loadMovements(); }
      if (name === "reconcile") await loadReconciliation();
    } catch (e) { /* shown */ }
  }

  // --- find a volunteer, pick items, redeem or reserve ----------------------------------------
  async function findVolunteer(by, value) {
    state.volunteer = await api("POST", `/desks/${state.deskId}/find-volunteer`, { [by]: value });
    showVolunteer();
    await loadItems();
  }

  $("find-btn").onclick = async () => {
    const by = $("find-by").value, value = $("find-value").value.trim();
    if (!value) { showError({ message: "请输入查找内容", field: by }); return; }
    notify(null);
    try { await findVolunteer(by, value); } catch (e) { /* shown */ }
  };
  $("find-value").addEventListener("keydown", (e) => { if (e.key === "Enter") $("find-btn").click(); });

  function showVolunteer() {
    const v = state.volunteer;
    $("v-name").textContent = v.volunteer.name;
    $("v-number").textContent = v.volunteer.number;
    $("v-points").textContent = v.points;
    $("v-held").textContent = v.points_held;
    $("v-stars").textContent = v.star_level ? "★".repeat(v.star_level) : "暂无星级";
    $("v-hours").textContent = v.hours_total;
    $("volunteer").classList.remove("hidden");
    $("catalogue").classList.remove("hidden");
    $("cart").classList.remove("hidden");
  }

  async function refreshVolunteer() {
    if (state.volunteer) await findVolunteer("number", state.volunteer.volunteer.number);
  }

  async function loadItems() {
    state.items = (await api("GET", `/desks/${state.deskId}/items`)).filter((i) => i.is_active);
    renderItems();
    renderCart();
    fillItemSelects();
  }

  function renderItems() {
    const box = $("items");
    box.replaceChildren();
    for (const item of state.items) {
      const card = document.createElement("div");
      card.className = "item";
      card.dataset.itemId = item.id;
      const limit = item.limit_quantity ? `，每${{day: "天", week: "周", month: "月", year: "年"}[item.limit_period]}限 ${item.limit_quantity}` : "";
      const stockLine = el("div", "库存 ", "muted");
      stockLine.append(el("span", item.stock, "stock"), document.createTextNode(limit));
      const buttons = el("div", null, "row");
      const minus = el("button", "−", "minus"), plus = el("button", "＋", "plus");
      minus.setAttribute("aria-label", "减少"); plus.setAttribute("aria-label", "增加");
      buttons.append(minus, el("span", state.cart[item.id] || 0, "qty"), plus);
      card.append(el("div", item.name, "name"), el("div", `${item.price_points} 积分/${item.unit_label}`, "price"), stockLine, buttons);
      card.querySelector(".plus").onclick = () => changeQty(item, 1);
      card.querySelector(".minus").onclick = () => changeQty(item, -1);
      box.appendChild(card);
    }
  }

  function changeQty(item, delta) {
    if (state.receipt) {  // more items for the same volunteer after a receipt: back to the cart
      state.receipt = null;
      $("receipt").style.display = "none";
      $("cart").classList.remove("hidden");
    }
    const next = Math.max(0, Math.min(item.stock, (state.cart[item.id] || 0) + delta));
    if (next) state.cart[item.id] = next; else delete state.cart[item.id];
    renderItems();
    renderCart();
  }

  function renderCart() {
    const body = $("cart-lines");
    body.replaceChildren();
    let total = 0;
    for (const item of state.items) {
      const qty = state.cart[item.id];
      if (!qty) continue;
      total += qty * item.price_points;
      body.appendChild(row([item.name, `× ${qty}`, qty * item.price_points]));
    }
    $("cart-total").textContent = total;
    $("redeem-btn").disabled = total === 0;
    $("reserve-btn").disabled = total === 0;
  }

  function cartLines() {
    return state.items.filter((i) => state.cart[i.id])
      .map((i) => ({ item_id: i.id, quantity: state.cart[i.id], price: i.price_points }));
  }

  $("clear-btn").onclick = () => { state.cart = {}; renderItems(); renderCart(); };

  $("redeem-btn").onclick = async () => {
    const body = { volunteer_id: state.volunteer.volunteer.id, items: cartLines() };
    $("redeem-btn").disabled = true;
    try {
      const receipt = await write("redeem", "POST", `/desks/${state.deskId}/redemptions`, body);
      state.cart = {};
      notify(null);
      showReceipt(receipt);
      await loadItems();  // fresh stock on the cards
    } catch (e) {
      if (e && e.code === "price_changed") await loadItems().catch(() => {});
      $("redeem-btn").disabled = false;
    }
  };

  $("reserve-btn").onclick = () => busy($("reserve-btn"), async () => {
    const body = { volunteer_id: state.volunteer.volunteer.id, items: cartLines() };
    const held = await write("reserve", "POST", `/desks/${state.deskId}/reservations`, body);
    state.cart = {};
    await refreshVolunteer();
    const what = held.items.map((l) => `${l.name} × ${l.quantity}`).join("、");
    notify(`已为 ${state.volunteer.volunteer.name} 预约 ${what}，${held.pickup_on} 取货，冻结 ${held.points} 积分（预约号 ${held.id}）`);
  });

  function showReceipt(r) {
    state.receipt = r;
    $("r-desk").textContent = r.desk_name;
    $("r-number").textContent = r.number;
    $("r-status").textContent = r.reservation_id ? "（预约取货）" : "";
    $("r-volunteer").textContent = `${r.volunteer_name}（${r.volunteer_number}）`;
    $("r-date").textContent = r.occurred_on;
    $("r-operator").textContent = r.operator;
    const body = $("r-lines");
    body.replaceChildren();
    for (const line of r.items) {
      body.appendChild(row([line.name, line.quantity, line.points]));
    }
    $("r-points").textContent = r.points;
    $("r-balance").textContent = r.balance_after;
    $("cancel-reason").value = "";
    $("cancel-row").classList.remove("hidden");
    $("receipt").style.display = "block";
    $("cart").classList.add("hidden");
    $("v-points").textContent = r.balance_after;
  }

  $("print-btn").onclick = () => window.print();
  $("cancel-btn").onclick = () => busy($("cancel-btn"), async () => {
    const reason = $("cancel-reason").value.trim();
    if (!reason) { showError({ message: "请填写撤销原因", field: "reason" }); return; }
    const done = await write("cancel", "POST", `/desks/${state.deskId}/redemptions/${state.receipt.number}/cancel`,
                             { reason });
    await refreshVolunteer().catch(() => {});  // balance and stock as they are now
    $("receipt").style.display = "block";
    $("cart").classList.add("hidden");
    $("v-points").textContent = done.balance_now;
    $("r-balance").textContent = done.balance_now;
    notify(`小票 ${done.number} 已撤销（${reason}），${done.points} 积分已退回，库存已恢复`);
    $("cancel-row").classList.add("hidden");
    $("r-status").textContent = "已撤销";
  });
  $("next-btn").onclick = () => {
    state.volunteer = null; state.receipt = null; state.cart = {};
    $("receipt").style.display = "none";
    ["volunteer", "catalogue", "cart"].forEach((id) => $(id).classList.add("hidden"));
    notify(null);
    $("find-value").value = "";
    $("find-value").focus();
  };

  // --- reservations to pick up today ------------------------------------------------------------
  async function loadPickups() {
    const held = await api("GET", `/desks/${state.deskId}/reservations?status=held&pickup_on=${state.desk.today}`);
    $("pickup-count").textContent = held.length;
    const body = $("pickup-list");
    body.replaceChildren();
    for (const r of held) {
      const tr = document.createElement("tr");
      tr.dataset.reservationId = r.id;
      const button = el("button", "取货", "primary pickup-btn");
      const cellsOf = row([r.id, r.volunteer_name ? `${r.volunteer_name}（${r.volunteer_number}）` : `#${r.volunteer_id}`,
                           r.items.map((l) => `${l.name} × ${l.quantity}`).join("、"), r.points, button]);
      cellsOf.children[1].className = "who"; cellsOf.children[2].className = "what"; cellsOf.children[3].className = "num";
      tr.append(...cellsOf.children);
      button.onclick = () => busy(button, () => pickUp(r));
      body.appendChild(tr);
    }
    $("pickup-empty").classList.toggle("hidden", held.length > 0);
  }

  async function pickUp(reservation) {
    const receipt = await write("pickup-" + reservation.id, "POST",
                                `/desks/${state.deskId}/reservations/${reservation.id}/pickup`);
    await loadPickups().catch(() => {});
    await showTab("redeem");
    state.cart = {};
    await findVolunteer("number", receipt.volunteer_number).catch(() => {});
    showReceipt(receipt);
    notify(`预约 ${reservation.id} 已取货，小票 ${receipt.number}`);
  }
  $("pickup-refresh").onclick = () => loadPickups().catch(() => {});

  // --- stock in (入库) and stock count (盘点) ----------------------------------------------------
  function fillItemSelects() {
    for (const id of ["in-item", "count-item"]) {
      const select = $(id), chosen = select.value;
      select.replaceChildren();
      for (const item of state.items) {
        const option = document.createElement("option");
        option.value = item.id;
        option.textContent = `${item.name}（库存 ${item.stock}）`;
        select.appendChild(option);
      }
      if (chosen && state.items.some((i) => String(i.id) === chosen)) select.value = chosen;
    }
    showBook();
  }

  function showBook() {
    const item = state.items.find((i) => String(i.id) === $("count-item").value);
    $("count-book").textContent = item ? `${item.stock} ${item.unit_label}` : "—";
  }
  $("count-item").onchange = showBook;

  function wholeOrNull(text) {
    return /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
  }

  $("in-btn").onclick = () => busy($("in-btn"), async () => {
    const quantity = wholeOrNull($("in-qty").value);
    if (!quantity) { showError({ message: "请输入入库数量（正整数）", field: "quantity" }); return; }
    const body = { item_id: Number($("in-item").value), quantity, source: $("in-source").value,
                   note: $("in-note").value.trim() };
    const moved = await write("receive", "POST", `/desks/${state.deskId}/stock/receive`, body);
    const name = state.items.find((i) => i.id === body.item_id).name;
    $("in-qty").value = ""; $("in-note").value = "";
    await loadItems(); await loadMovements();
    notify(`已入库：${name} +${moved.quantity}，现库存 ${moved.stock_after}`);
  });

  $("count-btn").onclick = () => busy($("count-btn"), async () => {
    const counted = wholeOrNull($("count-qty").value);
    if (counted === null) { showError({ message: "请输入实盘数量（0 或正整数）", field: "counted" }); return; }
    const body = { item_id: Number($("count-item").value), counted, reason: $("count-reason").value.trim() };
    const done = await write("count", "POST", `/desks/${state.deskId}/stock/count`, body);
    const name = state.items.find((i) => i.id === body.item_id).name;
    $("count-qty").value = ""; $("count-reason").value = "";
    await loadItems(); await loadMovements();
    if (done.adjusted) {
      const q = done.movement.quantity;
      notify(`盘点已记录：${name} 调整 ${q > 0 ? "+" + q : q}，现库存 ${done.movement.stock_after}（${done.movement.reason}）`);
    } else {
      notify(`盘点相符：${name} 账实一致，无需调整`);
    }
  });

  async function loadMovements() {
    const rows = await api("GET", `/desks/${state.deskId}/stock/movements?limit=15`);
    const names = Object.fromEntries(state.items.map((i) => [i.id, i.name]));
    const body = $("mv-lines");
    body.replaceChildren();
    for (const m of rows) {
      const tr = row([m.occurred_on.slice(5), names[m.item_id] || `#${m.item_id}`, KINDS[m.kind] || m.kind,
                      m.quantity > 0 ? "+" + m.quantity : m.quantity, m.stock_after,
                      (m.reason || "").replace(/^(donation|purchase|transfer|other)\b/, (w) => SOURCES[w])]);
      tr.children[3].className = "num"; tr.children[4].className = "num";
      body.appendChild(tr);
    }
  }

  // --- the day's reconciliation (对账) ----------------------------------------------------------
  async function loadReconciliation() {
    const day = $("recon-day").value || state.desk.today;
    const report = await api("GET", `/desks/${state.deskId}/reconciliation/${day}?live=true`);
    const receipts = await api("GET", `/desks/${state.deskId}/redemptions?day=${day}`);
    renderReceiptsOfDay(receipts);
    const status = $("recon-status");
    status.textContent = report.ok ? "✓ 无差异" : "✗ 有差异";
    status.className = report.ok ? "ok" : "bad";
    $("recon-ledger").textContent = report.ledger_points;
    $("recon-stock").textContent = report.stock_points;
    $("recon-diff").textContent = report.difference;
    $("recon-out").textContent = report.items_out;
    const box = $("recon-items");
    box.replaceChildren();
    for (const d of report.stock_differences || []) {
      const p = document.createElement("p");
      p.textContent = `库存不符：${d.name} 现库存 ${d.stock}，库存账 ${d.booked}`;
      box.appendChild(p);
    }
  }

  function renderReceiptsOfDay(receipts) {
    const body = $("rc-lines");
    body.replaceChildren();
    for (const r of receipts) {
      const tr = row([r.number, r.volunteer_name, r.points, STATUS[r.status] || r.status]);
      tr.children[2].className = "num";
      body.appendChild(tr);
    }
  }
  $("recon-btn").onclick = () => busy($("recon-btn"), loadReconciliation);
  $("recon-day").onchange = () => loadReconciliation().catch(() => {});

  loadDesks().catch(() => {});
})();
