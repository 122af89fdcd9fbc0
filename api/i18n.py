"""What people read is Chinese: the messages of domain errors and of request validation.

The machine-readable `code` and `field` stay English.  A domain message that is Chinese
already keeps its Chinese part (an English gloss in parentheses is dropped); an English one
is matched against the known sentences below, else it gets the Chinese sentence of its code
and field.  A client that asks for English (`Accept-Language: en...`) gets the English text.
"""
from __future__ import annotations

import re
from typing import Any, Callable

CJK = re.compile(r"[\u3400-\u9fff]")
GLOSS = re.compile(r"\s*[（(](?=[^()（）]*[A-Za-z]{2})[^()（）\u3400-\u9fff]*[)）]")
ENGLISH_WORDS = re.compile(r"\b[A-Za-z]{2,}\b[ ,;:']+\b[A-Za-z]{2,}\b")

FIELDS = {
    "quantity": "数量", "price": "价格", "price_points": "价格", "items": "兑换物品", "item_id": "物品",
    "reason": "原因", "started_at": "开始时间", "ended_at": "结束时间", "minutes": "服务时长", "period": "期间",
    "code": "验证码", "number": "志愿者编号", "id_number": "身份证号", "qr_token": "二维码", "volunteer_id": "志愿者",
    "unit_id": "单位", "home_unit_id": "所属单位", "activity_id": "活动", "record_id": "服务记录", "desk_id": "兑换点",
    "reservation_id": "预约", "counted": "实盘数", "source": "来源", "note": "备注", "day": "日期",
    "date_from": "开始日期", "date_to": "结束日期", "effective_on": "生效日期", "name": "姓名", "phone": "联系电话",
    "service_kind": "服务类别", "category": "服务类别", "status": "状态", "body": "请求内容",
    "position": "台账位置", "run_id": "排名批次", "definition_id": "排名定义", "amount": "数额",
    "pickup_on": "取货日期", "approved_by": "审核人", "confirmed_by": "确认人", "file": "文件",
    "title": "活动名称", "held_on": "活动日期", "username": "用户名", "password": "密码",
    "current_password": "当前密码", "new_password": "新密码", "new_password_again": "再次输入新密码",
    "role": "角色", "registered_on": "登记日期", "team_ids": "队伍", "team_id": "队伍", "kind": "类别",
    "batch": "导入批次", "Authorization": "登录凭证", "session": "登录", "csrf_token": "表单校验码",
    "Idempotency-Key": "提交编号", "is_party_member": "党员", "to_unit_id": "调入单位", "rating": "评分",
    "tags": "标签", "limit": "条数", "query": "查询条件", "q": "查询条件", "user_id": "用户",
}

STATUS = {"pending": "待审核", "posted": "已入账", "rejected": "已退回", "reversed": "已冲正", "approved": "已审核"}


def field_label(field: str | None) -> str:
    """The Chinese name of a request field (its last segment), else the field itself."""
    parts = [p for p in re.sub(r"\[\d+\]", "", str(field or "")).split(".") if p and not p.isdigit()]
    key = parts[-1] if parts else ""
    return FIELDS.get(key, key)


def _status(value: str) -> str:
    return STATUS.get(value, value)


# Known English sentences of the domain, matched in full: (pattern, Chinese template).
KNOWN: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [(re.compile(p, re.I), f) for p, f in [
    (r"only a (\w+) record can be (approved|rejected|rated|reversed); this one is (\w+)",
     lambda m: f"只有{_status(m[1])}的记录可以{ {'approved': '审核', 'rejected': '退回', 'rated': '评价', 'reversed': '冲正'}[m[2].lower()]}，"
               f"此记录{_status(m[3])}"),
    (r"a rejection needs a reason", lambda m: "退回需要填写原因"),
    (r"a reversal needs a reason", lambda m: "冲正需要填写原因"),
    (r"this record is already reversed", lambda m: "该记录已冲正"),
    (r"this record was already rated.*", lambda m: "该记录已评价过"),
    (r"a volunteer with this ID-card number is already registered", lambda m: "该身份证号已登记"),
    (r"no volunteer with this ID-card number", lambda m: "没有此身份证号的志愿者"),
    (r"no volunteer with number '?([^']*)'?", lambda m: f"没有编号为 {m[1]} 的志愿者"),
    (r"volunteer (\d+) (?:not found|does not exist).*", lambda m: f"志愿者 {m[1]} 不存在或不在您的管辖范围"),
    (r"activity (?:of unit \d+ )?(\d*) ?not found", lambda m: "活动不存在或不在您的管辖范围"),
    (r"service record (\d+) not found", lambda m: f"服务记录 {m[1]} 不存在或不在您的管辖范围"),
    (r"unit (\d+) not found.*", lambda m: f"单位 {m[1]} 不存在或不在您的管辖范围"),
    (r"(?:team|user) (\d+) (?:not found|does not exist)", lambda m: f"编号 {m[1]} 不存在或不在您的管辖范围"),
    (r"no (?:pending )?records in batch.*", lambda m: "该导入批次没有待审核的记录"),
    (r"a record is approved by someone other than.*", lambda m: "录入人不能审核自己录入的记录，请由另一位管理员审核"),
    (r"role '?(\w+)'? may not do this.*", lambda m: "您的角色无权进行此操作"),
    (r"unknown token|the token has expired or was revoked.*|send 'Authorization.*", lambda m: "登录已失效，请重新登录"),
    (r"this user is disabled", lambda m: "此用户已停用"),
    (r"registered_on cannot be in the future", lambda m: "登记日期不能晚于今天"),
    (r"name(?: \(姓名\))? must not be empty", lambda m: "姓名不能为空"),
    (r"title(?: \(活动名称\))? must not be empty", lambda m: "活动名称不能为空"),
    (r"category(?: \(服务类别\))? must not be empty", lambda m: "服务类别不能为空"),
    (r"unknown service category '?([^';]*)'?.*", lambda m: f"嘉许激励办法中没有服务类别“{m[1]}”"),
    (r"username must not be empty", lambda m: "用户名不能为空"),
    (r"username '?(.*?)'? is taken", lambda m: f"用户名 {m[1]} 已被使用"),
    (r"(?:team|unit) code '?(.*?)'? is already used", lambda m: f"编码 {m[1]} 已被使用"),
    (r"the volunteer has left this deployment", lambda m: "该志愿者已转出本系统"),
    (r"this volunteer has left; no sign-in code is issued", lambda m: "该志愿者已离开，不再发放登录码"),
    (r"kind must be 'code' \(one-time\) or 'pin'", lambda m: "类别应为一次性验证码或固定 PIN"),
    (r"team (\d+) does not exist", lambda m: f"队伍 {m[1]} 不存在"),
    (r"an Idempotency-Key .* is required for every write", lambda m: "每次提交都需要提交编号（Idempotency-Key）"),
    (r"the file is larger than (\d+) MB", lambda m: f"文件不能超过 {m[1]} MB"),
    (r"minutes must be a positive whole number", lambda m: "服务时长应为正整数（分钟）"),
    (r"rating must be a whole number from 1 to 5", lambda m: "评分应为 1 到 5 的整数"),
    (r"could not allocate a volunteer number; retry", lambda m: "未能分配志愿者编号，请重试"),
    (r"a unit admin cannot create admins or auditors", lambda m: "单位管理员不能创建系统管理员或审计员"),
    (r"the request conflicts with the ledger's current state.*", lambda m: "请求与台账当前状态冲突，未做任何更改"),
    (r"the database is unavailable.*", lambda m: "数据库暂时无法连接，未做任何更改，请稍后用同一提交编号（Idempotency-Key）重试"),
    (r"the database refused the request.*", lambda m: "数据库拒绝了此操作，未做任何更改"),
    (r"a number in the request is out of range", lambda m: "请求中的数字超出范围"),
    (r"this Idempotency-Key was already used for a different request|transaction key .* was already used for "
     r"different postings", lambda m: "此提交编号（Idempotency-Key）已用于内容不同的另一次提交，请刷新页面后重新操作"),
]]


def _details(details: dict | None, key: str) -> Any:
    return (details or {}).get(key, "?")


# The Chinese sentence of each code, when a message is not known: (code) -> template(field label, details).
BY_CODE: dict[str, Callable[[str, dict | None], str]] = {
    "invalid": lambda f, d: f"{f}的值无效" if f else "输入有误",
    "not_found": lambda f, d: f"未找到{f}，或不在您的管辖范围" if f else "未找到，或不在您的管辖范围",
    "unknown_volunteer": lambda f, d: "未找到该志愿者，或不在您的管辖范围",
    "unknown_unit": lambda f, d: "未找到该单位，或不在您的管辖范围",
    "unknown_activity": lambda f, d: "未找到该活动，或不在您的管辖范围",
    "forbidden": lambda f, d: "您的角色无权进行此操作",
    "unauthenticated": lambda f, d: "登录已失效，请重新登录",
    "conflict": lambda f, d: f"{f}与现有记录冲突，未做任何更改" if f else "与现有记录冲突，未做任何更改",
    "idempotency_key_reused": lambda f, d: "此提交编号已用于内容不同的另一次提交，请刷新页面后重新操作",
    "already_reversed": lambda f, d: "该记录已冲正",
    "insufficient_points": lambda f, d: f"积分不足：需要 {_details(d, 'needed')} 分，当前 {_details(d, 'balance')} 分",
    "insufficient_stock": lambda f, d: "库存不足",
    "price_changed": lambda f, d: "价格已变动，请刷新后重试",
    "limit_reached": lambda f, d: "超过每人限兑数量",
    "already_cancelled": lambda f, d: "该单已撤销",
    "redemption_in_flight": lambda f, d: "该志愿者有一笔兑换正在处理，请稍后重试",
    "policy_invalid": lambda f, d: f"嘉许激励办法有误：{f}" if f else "嘉许激励办法有误",
    "import_rejected": lambda f, d: "台账有错误行，未导入任何记录",
    "too_many_attempts": lambda f, d: "尝试次数过多，请稍后再试",
    "integrity_violation": lambda f, d: "账本校验未通过，请联系技术支持",
    "unavailable": lambda f, d: "数据库暂时无法连接，未做任何更改，请稍后用同一提交编号（Idempotency-Key）重试",
    "database_error": lambda f, d: "数据库拒绝了此操作，未做任何更改",
    "package_refused": lambda f, d: "转移包未导入，未做任何更改",
    "rate_limited": lambda f, d: "请求过于频繁，请稍后再试",
}


# Reasons of a policy document's refusal ("<path>: <reason>"), in Chinese.
POLICY_REASONS: list[tuple[re.Pattern, Callable[[re.Match], str]]] = [(re.compile(p), f) for p, f in [
    (r"malformed TOML.*?(?:line (\d+))?.*", lambda m: "TOML 格式有误" + (f"（第 {m[1]} 行）" if m[1] else "")),
    (r"must be a table.*", lambda m: "应为一个表"), (r"unknown key", lambda m: "不认识的设置项"),
    (r"required key is missing", lambda m: "缺少必填项"), (r"must be a (?:non-empty )?string", lambda m: "应为文字"),
    (r"unknown value '?(.*?)'?; expected one of (.*)", lambda m: f"不认识的值 {m[1]}，应为以下之一：{m[2]}"),
    (r"must be true or false", lambda m: "应为 true 或 false"), (r"must be an integer", lambda m: "应为整数"),
    (r"must not be negative", lambda m: "不能为负数"), (r"must be at least (\S+)", lambda m: f"不能小于 {m[1]}"),
    (r"must be an exact decimal number.*|must be a finite decimal number", lambda m: "应为精确的小数（不用浮点数）"),
    (r"must be a date YYYY-MM-DD.*", lambda m: "应为日期 YYYY-MM-DD"),
    (r"must be a list of strings", lambda m: "应为文字列表"), (r"duplicate '?(.*?)'?", lambda m: f"重复的 {m[1]}"),
    (r"must be greater than (\S+)(?: \((\S+)\))?", lambda m: f"应大于 {m[1]}" + (f"（{m[2]}）" if m[2] else "")),
    (r"a day has only (\d+) minutes", lambda m: f"一天只有 {m[1]} 分钟"),
    (r"unknown service category.*", lambda m: "嘉许激励办法中没有这个服务类别"),
    (r"overlaps (\S+).*", lambda m: f"与 {m[1]} 的日期重叠"),
    (r"must not be before from \((.*)\)", lambda m: f"不能早于开始日期 {m[1]}"),
]]


def policy_message_zh(path: str | None, message: str) -> str:
    """`<path>：<Chinese reason>` of a policy refusal (the dotted path is a code, kept as it is)."""
    reason = message[len(path) + 2:] if path and message.startswith(f"{path}: ") else message
    for pattern, make in POLICY_REASONS:
        match = pattern.fullmatch(reason.strip())
        if match:
            return f"嘉许激励办法有误：{path}：{make(match)}" if path else f"嘉许激励办法有误：{make(match)}"
    return BY_CODE["policy_invalid"](path or "", None) + "（请检查此项的值）"


def wants_english(accept_language: str | None) -> bool:
    """True when the client's first language preference is English."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return first.startswith("en")


def is_chinese_enough(text: str) -> bool:
    """True when a text is Chinese, with no English phrase (names and codes aside)."""
    return bool(CJK.search(text)) and not ENGLISH_WORDS.search(text)


def chinese_message(code: str | None, message: str | None, field: str | None = None,
                    details: dict | None = None) -> str:
    """The Chinese sentence for an error (see the module's docstring)."""
    text = (message or "").strip()
    if code == "policy_invalid" and (not CJK.search(text) or (field and text.startswith(f"{field}: ")
                                                              and not CJK.search(text[len(field):]))):
        return policy_message_zh(field, text)
    if CJK.search(text):
        stripped = GLOSS.sub("", text).strip()
        if is_chinese_enough(stripped):
            return stripped
    english = GLOSS.search(text)
    candidates = [text] + ([english.group(0).strip(" （()）")] if english else [])
    for candidate in candidates:
        for pattern, make in KNOWN:
            match = pattern.fullmatch(candidate)
            if match:
                return make(match)
    make_by_code = BY_CODE.get(code or "", BY_CODE["invalid"])
    return make_by_code(field_label(field), details)


def english_message(message: str, field: str | None = None) -> str:
    """The English part of a message (a Chinese one's gloss), for clients that ask for English."""
    message = message or ""
    sentence = message[len(field) + 2:] if field and message.startswith(f"{field}: ") else message
    found = GLOSS.search(sentence)
    return found.group(0).strip(" （()）") if found and CJK.search(sentence) else message


def localise(body: dict, accept_language: str | None) -> dict:
    """An error body {code, message, field, ...} with its message in the client's language."""
    if wants_english(accept_language):
        return {**body, "message": english_message(body.get("message") or "", body.get("field"))}
    return {**body, "message": chinese_message(body.get("code"), body.get("message"), body.get("field"),
                                               body.get("details"))}


def _ctx(error: dict, key: str) -> Any:
    return (error.get("ctx") or {}).get(key, "")


# The framework's (pydantic's) validation error types, in Chinese.
VALIDATION: dict[str, Callable[[dict], str]] = {
    "missing": lambda e: "必填",
    "string_too_short": lambda e: "不能为空" if _ctx(e, "min_length") in (1, "") else f"至少 {_ctx(e, 'min_length')} 个字符",
    "string_too_long": lambda e: f"不能超过 {_ctx(e, 'max_length')} 个字符",
    "string_type": lambda e: "应为文字",
    "string_pattern_mismatch": lambda e: "格式不正确",
    "int_parsing": lambda e: "应为整数", "int_type": lambda e: "应为整数", "int_from_float": lambda e: "应为整数",
    "float_parsing": lambda e: "应为数字", "float_type": lambda e: "应为数字",
    "decimal_parsing": lambda e: "应为数字", "decimal_type": lambda e: "应为数字",
    "bool_parsing": lambda e: "应为“是”或“否”", "bool_type": lambda e: "应为“是”或“否”",
    "date_parsing": lambda e: "日期格式应为 2026-11-20", "date_type": lambda e: "日期格式应为 2026-11-20",
    "date_from_datetime_parsing": lambda e: "日期格式应为 2026-11-20",
    "datetime_parsing": lambda e: "时间格式应为 2026-11-20T09:00", "datetime_type": lambda e: "时间格式应为 2026-11-20T09:00",
    "datetime_from_date_parsing": lambda e: "时间格式应为 2026-11-20T09:00",
    "greater_than": lambda e: f"应大于 {_ctx(e, 'gt')}", "greater_than_equal": lambda e: f"不能小于 {_ctx(e, 'ge')}",
    "less_than": lambda e: f"应小于 {_ctx(e, 'lt')}", "less_than_equal": lambda e: f"不能大于 {_ctx(e, 'le')}",
    "too_short": lambda e: "条目太少", "too_long": lambda e: "条目太多",
    "list_type": lambda e: "应为列表", "dict_type": lambda e: "格式有误", "model_attributes_type": lambda e: "格式有误",
    "literal_error": lambda e: f"应为以下之一：{_ctx(e, 'expected')}", "enum": lambda e: f"应为以下之一：{_ctx(e, 'expected')}",
    "json_invalid": lambda e: "不是有效的 JSON", "json_type": lambda e: "不是有效的 JSON",
    "extra_forbidden": lambda e: "不接受此字段", "uuid_parsing": lambda e: "格式不正确",
}


def validation_reason_zh(error: dict) -> str:
    """The Chinese reason of one framework validation error (a pydantic error dict)."""
    make = VALIDATION.get(error.get("type", ""))
    if make is not None:
        return make(error)
    message = str(error.get("msg", ""))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return chinese_message("invalid", message, None) if CJK.search(message) else "值无效"


def validation_message_zh(field: str, error: dict) -> str:
    """`<field label>：<reason>` for the first validation error of a request."""
    label = field_label(field)
    reason = validation_reason_zh(error)
    return f"{label}：{reason}" if label else reason
