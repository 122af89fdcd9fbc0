const $ = (id) => document.getElementById(id);
async function check(no, code) {
  $("result").classList.remove("hidden");
  $("verdict").className = "verdict"; $("verdict").textContent = "正在核验…"; $("message").textContent = "";
  $("details").classList.add("hidden");
  const res = await fetch("/selfservice/verify?" + new URLSearchParams({number: no, code: code}));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    $("verdict").className = "verdict bad"; $("verdict").textContent = "暂时无法核验";
    if (body.code) ErrorsZh.render($("message"), body);
    else $("message").textContent = body.message || ("请求失败（" + res.status + "）");
    return;
  }
  if (!body.genuine) {
    $("verdict").className = "verdict bad"; $("verdict").textContent = "✗ 核验未通过";
    $("message").textContent = body.message; return;
  }
  const c = body.certificate;
  $("verdict").className = "verdict good"; $("verdict").textContent = "✓ 证明真实有效";
  $("message").textContent = body.message;
  $("d-number").textContent = c.number; $("d-name").textContent = c.name; $("d-vnumber").textContent = c.volunteer_number;
  $("d-period").textContent = c.period.from + " 至 " + c.period.to;
  $("d-hours").textContent = c.hours + " 小时（" + c.services + " 次服务）";
  $("d-issuer").textContent = c.issuer; $("d-issued").textContent = c.issued_on;
  $("details").classList.remove("hidden");
}
$("verify-form").addEventListener("submit", (ev) => { ev.preventDefault(); check($("no").value.trim(), $("code").value.trim()); });
const q = new URLSearchParams(location.search);
if (q.get("no")) { $("no").value = q.get("no"); $("code").value = q.get("code") || ""; check($("no").value, $("code").value); }
