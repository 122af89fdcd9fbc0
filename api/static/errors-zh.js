// Chinese wording for the API's error bodies {"code", "message", "field", "details"}.
// The API's codes, fields and statuses stay as they are; this only changes what people read.
// The server's own message is always shown below in small grey text (for support calls).
(function () {
  "use strict";

  // the common request fields, by their last path segment (items[0].quantity -> quantity)
  const FIELDS = {
    quantity: "数量", price: "价格", items: "兑换物品", item_id: "物品", reason: "原因",
    started_at: "开始时间", ended_at: "结束时间", minutes: "服务时长", period: "期间",
    code: "验证码", number: "志愿者编号", id_number: "身份证号", qr_token: "二维码",
    volunteer_id: "志愿者", unit_id: "单位", activity_id: "活动", record_id: "服务记录",
    desk_id: "兑换点", reservation_id: "预约", counted: "实盘数", source: "来源", note: "备注",
    day: "日期", date_from: "开始日期", date_to: "结束日期", effective_on: "生效日期",
    name: "姓名", phone: "联系电话", service_kind: "服务类别", status: "状态", body: "请求内容",
    position: "台账位置", run_id: "排名批次", definition_id: "排名定义", amount: "数额",
    pickup_on: "取货日期", approved_by: "审核人", confirmed_by: "确认人", file: "文件",
  };

  function leaf(field) {
    const parts = String(field || "").replace(/\[\d+\]/g, "").split(".").filter((p) => p && !/^\d+$/.test(p));
    return parts.length ? parts[parts.length - 1] : "";
  }

  function fieldName(field) {
    const key = leaf(field);
    return FIELDS[key] || key || "";
  }

  const d = (body, key) => (body.details && body.details[key] !== undefined ? body.details[key] : "?");

  const CODES = {
    insufficient_points: (b) => `积分不足：需要 ${d(b, "needed")} 分，当前 ${d(b, "balance")} 分`,
    insufficient_stock: () => "库存不足",
    price_changed: () => "价格已变动，请刷新后重试",
    already_cancelled: () => "该单已撤销",
    limit_reached: (b) => (b.details && b.details.limit !== undefined
      ? `超过每人限兑数量（限 ${b.details.limit} 件，已兑 ${d(b, "taken")} 件）` : "超过每人限兑数量"),
    conflict: () => "与现有记录冲突",
    already_reversed: () => "该记录已冲正",
    redemption_in_flight: () => "该志愿者有一笔兑换正在处理，请稍后重试",
    idempotency_key_reused: () => "重复提交的内容与上次不同，请刷新后重新操作",
    not_found: () => "未找到（或不在您的管辖范围）",
    unknown_volunteer: () => "未找到该志愿者（或不在您的管辖范围）",
    unknown_unit: () => "未找到该单位（或不在您的管辖范围）",
    unknown_activity: () => "未找到该活动（或不在您的管辖范围）",
    forbidden: () => "无权进行此操作",
    unauthenticated: () => "登录已失效，请重新登录",
    too_many_attempts: (b) => b.message || "尝试次数过多，请稍后再试",
    unavailable: () => "数据库暂时无法连接，未做任何更改，请稍后再点一次（重试不会重复记账）",
    database_error: () => "数据库拒绝了此操作，未做任何更改",
    invalid: (b) => {
      const name = fieldName(b.field);
      return name ? `输入有误：${name}` : "输入有误";
    },
    policy_invalid: (b) => `政策内容有误${b.field ? "：" + b.field : ""}`,
    import_rejected: () => "导入被拒绝：部分行有误，未导入任何数据",
    package_refused: () => "转移包未导入（未做任何更改）",
    integrity_violation: () => "账本校验未通过，请联系技术支持",
  };

  // {zh, original}: the Chinese sentence, and the server's own words (with field) for support.
  function describe(body) {
    body = body || {};
    const message = body.message || "";
    const make = body.code && CODES[body.code];
    const zh = make ? make(body) : (message || "操作失败");
    const parts = [];
    if (make && message && message !== zh) parts.push(message);
    if (body.field) parts.push(`字段：${body.field}`);
    if (body.code && !make) parts.push(body.code);
    return { zh, original: parts.join(" · ") };
  }

  // Fill `box` with the Chinese sentence and, below it, the server's message in small grey text.
  function render(box, body) {
    const { zh, original } = describe(body);
    box.textContent = "";
    const main = document.createElement("div");
    main.className = "err-zh";
    main.textContent = zh;
    box.appendChild(main);
    if (original) {
      const small = document.createElement("div");
      small.className = "err-original";
      small.textContent = original;
      small.style.cssText = "font-size:12px;color:#777;margin-top:4px;word-break:break-all;";
      box.appendChild(small);
    }
  }

  window.ErrorsZh = { describe, render, fieldName, FIELDS, CODES };
})();
