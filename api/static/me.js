const KINDS = {service: "志愿服务", reversal: "冲正（更正）", rating_bonus: "评价奖励", redemption: "积分兑换",
  redemption_cancel: "取消兑换", expiry: "积分过期", transfer: "转移接续", transfer_in: "转入", transfer_out: "转出",
  adjustment: "调整", reservation: "预约冻结", release: "释放冻结"};
const $ = (id) => document.getElementById(id);
const state = {token: sessionStorage.getItem("ss_token"), vid: sessionStorage.getItem("ss_vid"), before: null};

function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }
function hours(min) { const h = Math.round(min * 100 / 60) / 100; return String(h); }
function today() { const d = new Date(); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 10); }
function newKey() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2)); }

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  if (opts.json) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const res = await fetch(path, {method: opts.method || "GET", headers, body: opts.body});
  if (res.status === 401 && state.token) { signOut("登录已过期或无效，请重新登录。"); throw new Error("401"); }
  if (!res.ok) {
    let body = {}; try { body = await res.json(); } catch (e) {}
    const err = new Error(body.code ? ErrorsZh.describe(body).zh : (body.message || ("请求失败（" + res.status + "）")));
    err.status = res.status; err.body = body; throw err;
  }
  return opts.raw ? res : res.json();
}

// an error in `el`: the Chinese sentence, and the server's own message in grey below
function showErr(el, e) { if (e.body && e.body.code) ErrorsZh.render(el, e.body); else el.textContent = e.message; }

function signOut(message) {
  state.token = null; state.vid = null;
  sessionStorage.removeItem("ss_token"); sessionStorage.removeItem("ss_vid");
  $("app").classList.add("hidden"); $("signin").classList.remove("hidden");
  $("signin-msg").textContent = message || "";
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("signin-msg").textContent = "";
  try {
    const r = await api("/selfservice/sign-in", {method: "POST", json: {number: $("number").value.trim(), code: $("code").value.trim()}});
    state.token = r.token; state.vid = String(r.volunteer_id);
    sessionStorage.setItem("ss_token", r.token); sessionStorage.setItem("ss_vid", state.vid);
    $("code").value = "";
    await show();
  } catch (e) {
    if (e.status === 401) $("signin-msg").textContent = "志愿者编号或验证码不正确，请核对后重试。";
    else showErr($("signin-msg"), e);
  }
});

$("signout").addEventListener("click", async () => {
  try { await api("/selfservice/sign-out", {method: "POST"}); } catch (e) {}
  signOut("您已退出。");
});

document.querySelectorAll(".tabs button").forEach(b => b.addEventListener("click", () => {
  document.querySelectorAll(".tabs button").forEach(x => x.classList.toggle("active", x === b));
  ["history", "memberships", "redemptions", "certificate"].forEach(t => $("tab-" + t).classList.toggle("hidden", t !== b.dataset.tab));
  if (b.dataset.tab === "memberships") loadMemberships();
  if (b.dataset.tab === "redemptions") loadRedemptions();
  if (b.dataset.tab === "certificate") loadCertificates();
}));

const base = () => "/selfservice/volunteers/" + state.vid;

async function show() {
  $("signin").classList.add("hidden"); $("app").classList.remove("hidden");
  const s = await api(base() + "/summary");
  $("who").textContent = s.volunteer.name + " 您好";
  $("who-sub").textContent = "志愿者编号 " + s.volunteer.number + (s.home_unit ? " · " + s.home_unit : "");
  $("hours-total").textContent = s.hours_total;
  $("hours-year").textContent = s.hours_this_year;
  $("points").textContent = s.points;
  $("points-held").textContent = s.points_held;
  $("star").textContent = s.star_level > 0 ? "★".repeat(s.star_level) + "☆".repeat(Math.max(0, 5 - s.star_level)) : "暂无星级";
  $("star").setAttribute("data-level", s.star_level);
  $("star-next").textContent = s.hours_to_next_star === null ? "已达最高星级" : "距下一星级还差 " + s.hours_to_next_star + " 小时";
  const ex = s.points_expiring;
  $("expiry").textContent = ex ? (ex.points + " 分将于 " + ex.expires_on + " 到期" + (ex.is_soon ? "（即将到期）" : "")) : "暂无即将到期的积分";
  $("c-from").value = $("c-from").value || (today().slice(0, 4) + "-01-01");
  $("c-to").value = $("c-to").value || today();
  await loadHistory(true);
}

function item(tx) {
  const label = KINDS[tx.kind] || tx.kind;
  const title = tx.activity || label;
  const cls = tx.is_reversed ? " neg" : "";
  return `<li data-kind="${esc(tx.kind)}"><span class="amt${cls}">${tx.minutes ? esc(hours(tx.minutes)) + " 小时<br>" : ""}${tx.points ? (tx.points > 0 ? "+" : "") + esc(tx.points) + " 分" : ""}</span>
    <div class="t${cls}">${esc(title)}</div>
    <div class="sub">${esc(tx.occurred_on)} · ${esc(label)}${tx.unit ? " · " + esc(tx.unit) : ""}${tx.is_reversed ? " · 已冲正" : ""}</div></li>`;
}

async function loadHistory(reset) {
  if (reset) { state.before = null; $("history").innerHTML = ""; }
  const q = new URLSearchParams({limit: "20"});
  if ($("f-from").value) q.set("date_from", $("f-from").value);
  if ($("f-to").value) q.set("date_to", $("f-to").value);
  if ($("f-kind").value) q.set("kind", $("f-kind").value);
  if (state.before) q.set("before_id", state.before);
  const h = await api(base() + "/history?" + q);
  const sel = $("f-kind"), chosen = sel.value;
  sel.replaceChildren(new Option("全部", ""), ...h.kinds.map(k => new Option(KINDS[k] || k, k)));
  sel.value = chosen;
  $("history").insertAdjacentHTML("beforeend", h.items.map(item).join("") || (reset ? '<li class="sub" id="history-empty">没有符合条件的记录</li>' : ""));
  state.before = h.next_before_id;
  $("more").classList.toggle("hidden", !h.next_before_id);
}
$("f-apply").addEventListener("click", () => loadHistory(true));
$("more").addEventListener("click", () => loadHistory(false));

async function loadMemberships() {
  const m = await api(base() + "/memberships");
  const line = (cls, text) => Object.assign(document.createElement("div"), {className: cls, textContent: text});
  const rows = m.items.map(x => {
    const li = document.createElement("li");
    li.append(line("t", (x.team || x.unit) + (x.is_home ? "（所属单位）" : "")),
      line("sub", (x.team ? x.unit + " · " : "") + x.role + " · " + x.valid_from + " 至 " + (x.valid_to || "今")
        + (x.ended_reason ? " · " + x.ended_reason : "")));
    return li;
  });
  $("memberships").replaceChildren(...(rows.length ? rows : [Object.assign(document.createElement("li"), {className: "sub", textContent: "暂无记录"})]));
}

async function loadRedemptions() {
  const r = await api(base() + "/redemptions");
  $("redemptions").innerHTML = r.items.map(item).join("") || '<li class="sub">暂无兑换记录</li>';
}

async function loadCertificates() {
  const c = await api(base() + "/certificates");
  $("certificates").innerHTML = c.items.map(x => `<li><span class="amt"><button class="small secondary" data-pdf="${esc(x.number)}">下载</button></span>
    <div class="t">${esc(x.number)}</div><div class="sub">${esc(x.period.from)} 至 ${esc(x.period.to)} · ${esc(x.hours)} 小时 · 开具于 ${esc(x.issued_on)}</div>
    <div class="sub">验证码 <code>${esc(x.verification_code)}</code> · <a href="/verify?no=${encodeURIComponent(x.number)}&code=${encodeURIComponent(x.verification_code)}">在线核验</a></div></li>`).join("") || '<li class="sub">尚未开具</li>';
  document.querySelectorAll("[data-pdf]").forEach(b => b.addEventListener("click", () => download(b.dataset.pdf)));
}

async function download(number) {
  const res = await api("/selfservice/certificates/" + encodeURIComponent(number) + ".pdf", {raw: true});
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url; a.download = number + ".pdf"; document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

$("c-issue").addEventListener("click", async () => {
  const msg = $("c-msg"); msg.className = "msg"; msg.textContent = "正在开具…";
  try {
    const c = await api(base() + "/certificates", {method: "POST", headers: {"Idempotency-Key": newKey()},
      json: {date_from: $("c-from").value, date_to: $("c-to").value}});
    msg.className = "msg ok";
    msg.innerHTML = `已开具证明 <b id="c-number">${esc(c.number)}</b>（${esc(c.hours)} 小时），验证码 <code id="c-code">${esc(c.verification_code)}</code>。
      <a id="c-verify" href="/verify?no=${encodeURIComponent(c.number)}&code=${encodeURIComponent(c.verification_code)}">在线核验</a>`;
    await download(c.number);
    await loadCertificates();
  } catch (e) { msg.className = "msg"; showErr(msg, e); }
});

if (state.token && state.vid) show().catch(() => {});
