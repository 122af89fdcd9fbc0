// The targets page (目标考核): the session rides in its HttpOnly cookie; names go in as text only.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { row, element } = window.Console;
  let reportId = null;

  async function api(path, options) {
    $("error").classList.add("hidden");
    const response = await window.Console.fetch(path, options);
    if (!response.ok) {
      let body = {}; try { body = await response.json(); } catch (e) { /* not JSON */ }
      $("error").classList.remove("hidden"); ErrorsZh.render($("error"), body); throw body;
    }
    return response;
  }
  const mark = (ok) => element("span", ok ? "达标" : "未达标", ok ? "ok" : "no");

  function bar(label, value, goal, ok) {
    const box = element("div");
    const line = element("div", `${label}：${value ?? "—"}%（目标 ${goal}%）`);
    line.appendChild(document.createTextNode(" "));
    line.appendChild(mark(ok));
    const track = element("div", null, "bar");
    const fill = element("div", null, "fill");
    fill.style.width = Math.max(0, Math.min(100, Number(value || 0))) + "%";
    const target = element("div", null, "goal");
    target.style.left = Math.max(0, Math.min(100, Number(goal))) + "%";
    track.append(fill, target);
    box.append(line, track);
    return box;
  }

  function render(f) {
    $("result").classList.remove("hidden");
    $("title").textContent = `${f.unit_name} · ${f.period} · ${f.basis_label || ""}（本年累计自 ${f.year_to_date_from}，台账位置 ≤ ${f.ledger_position}）`;
    const hours = element("div", `人均服务时长：${f.hours.average_hours ?? "—"} 小时（累计目标 ${f.hours.target_hours} 小时，全年 ${f.hours.target_hours_year}） `);
    hours.appendChild(mark(f.hours.is_met));
    $("rates").replaceChildren(bar("党员参与率", f.party.rate_percent, f.party.target_percent, f.party.is_met),
      bar("居民参与率", f.residents.rate_percent, f.residents.target_percent, f.residents.is_met), hours);
    $("teams").replaceChildren(...f.teams.map((t) => row([t.name, t.in_period, t.year_to_date, t.target_year_to_date, mark(t.is_met)])));
    $("stations").replaceChildren(...f.stations.map((s) => row([s.name, s.months_without_activity.join("、") || "—", mark(s.is_met)])));
  }

  function query() { return { unit_id: Number($("unit").value), period: $("period").value.trim() }; }

  function reset() {  // another unit or period: the old chart and export link go
    reportId = null; $("xlsx").disabled = true; $("chart").classList.add("hidden"); $("chart").removeAttribute("src");
  }

  $("unit").addEventListener("change", reset);
  $("period").addEventListener("input", reset);
  $("show").addEventListener("click", async () => {
    const q = query(); reset();
    render(await (await api(`/targets?unit_id=${encodeURIComponent(q.unit_id)}&period=${encodeURIComponent(q.period)}`)).json());
  });
  $("store").addEventListener("click", async () => {
    reset();
    const r = await (await api("/targets/reports", { method: "POST", body: JSON.stringify(query()) })).json();
    reportId = r.id; render(r.figures); $("xlsx").disabled = false;
    const blob = await (await api(`/targets/reports/${r.id}/chart.png`)).blob();
    $("chart").src = URL.createObjectURL(blob); $("chart").classList.remove("hidden");
  });
  $("xlsx").addEventListener("click", async () => {
    const blob = await (await api(`/targets/reports/${reportId}/export.xlsx`)).blob();
    const a = document.createElement("a"); a.href = URL.createObjectURL(blob); a.download = `targets-${reportId}.xlsx`; a.click();
  });
})();
