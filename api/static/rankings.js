// The rankings page (评先评优): the session rides in its HttpOnly cookie; names go in as text only.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const { row, element } = window.Console;
  let definitions = [], currentRun = null;
  const unitNames = {};

  function showError(body) { $("error").classList.remove("hidden"); ErrorsZh.render($("error"), body); }
  async function api(path, options) {
    $("error").classList.add("hidden");
    const response = await window.Console.fetch(path, options);
    if (!response.ok) { let body = {}; try { body = await response.json(); } catch (e) { /* not JSON */ } showError(body); throw body; }
    return response;
  }
  function badge(text, className) { return element("span", text, "badge " + className); }

  async function loadDefinitions() {
    definitions = await (await api("/rankings/definitions")).json();
    try { (await (await api("/units")).json()).forEach((u) => { unitNames[u.id] = u.name; }); } catch (e) { /* shown */ }
    const newest = {};
    definitions.forEach((d) => { if (!newest[d.code] || newest[d.code].version < d.version) newest[d.code] = d; });
    const select = $("definition");
    select.replaceChildren();
    Object.values(newest).forEach((d) => {
      const option = element("option", `${d.name} (${d.code} v${d.version})`);
      option.value = d.id;
      select.appendChild(option);
    });
    await selectDefinition();
  }

  async function selectDefinition() {
    const d = definitions.find((x) => String(x.id) === $("definition").value);
    if (!d) return;
    const doc = d.document;
    $("definitionText").textContent = `按 ${doc.metrics.join(" > ")} 排序；资格：${JSON.stringify(doc.eligibility)}；名额：${JSON.stringify(doc.quota)}；并列：${doc.tie_break.map((t) => typeof t === "string" ? t : `${t.by} ${t.order}`).join(", ") || "ID"}`;
    const runs = await (await api(`/rankings/runs?definition_code=${encodeURIComponent(d.code)}`)).json();
    const body = $("runs");
    body.replaceChildren();
    runs.forEach((r) => {
      const state = element("span");
      if (r.is_provisional) state.appendChild(badge("截至日期（非最终）", "sup"));
      if (r.is_published) state.appendChild(badge("已发布", "pub"));
      if (r.superseded_by) state.appendChild(badge(`被 #${r.superseded_by} 替代`, "sup"));
      const open = element("button", "查看");
      open.addEventListener("click", () => openRun(r.id));
      body.appendChild(row([`#${r.id}`, r.period, r.ledger_position, `${r.candidates}/${r.eligible}/${r.shortlisted}`, state, open]));
    });
  }

  async function openRun(id) {
    const run = await (await api(`/rankings/runs/${id}?limit=1000`)).json();
    currentRun = run;
    $("runSection").classList.remove("hidden");
    $("runTitle").textContent = `运行 #${run.id} · ${run.period} · ${run.basis_label} · 台账位置 ≤ ${run.ledger_position}`;
    $("publish").disabled = run.is_published || !!run.superseded_by;
    const body = $("entries");
    body.replaceChildren();
    run.entries.forEach((e) => {
      body.appendChild(row([unitNames[e.group_unit_id] || e.group_unit_id, e.rank ?? "—", e.subject_name, e.subject_number,
        e.hours, e.points, e.activities, e.rating ?? "", e.tx_count, e.star_level, e.reasons.join("、")],
        e.is_shortlisted ? "short" : ""));
    });
    const blob = await (await api(`/rankings/runs/${id}/chart.png`)).blob();
    $("chart").src = URL.createObjectURL(blob);
    $("reproduced").textContent = "";
  }

  async function download(kind) {
    const blob = await (await api(`/rankings/runs/${currentRun.id}/export.${kind}`)).blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = `ranking-${currentRun.id}.${kind}`; a.click();
  }

  $("definition").addEventListener("change", () => selectDefinition().catch(() => {}));
  $("run").addEventListener("click", async () => {
    const run = await (await api("/rankings/runs", { method: "POST",
      body: JSON.stringify({ definition_id: Number($("definition").value), period: $("period").value.trim() }) })).json();
    await selectDefinition(); await openRun(run.id);
  });
  $("publish").addEventListener("click", async () => {
    if (!window.confirm("发布后名单即为正式名单，确定发布？")) return;
    await api(`/rankings/runs/${currentRun.id}/publish`, { method: "POST" });
    await selectDefinition(); await openRun(currentRun.id);
  });
  $("xlsx").addEventListener("click", () => download("xlsx").catch(() => {}));
  $("csv").addEventListener("click", () => download("csv").catch(() => {}));
  $("reproduce").addEventListener("click", async () => {
    const r = await (await api(`/rankings/runs/${currentRun.id}/reproduce`)).json();
    $("reproduced").textContent = r.matches ? "✔ 按台账位置重算，结果一致" : "✘ 重算结果不一致";
  });
  loadDefinitions().catch(() => {});
})();
