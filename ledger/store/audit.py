"""The audit log (审计日志): who did what, when; append-only like the ledger."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.store.tables import AuditEntry

ACTION_NAMES = {
    "unit.create": "新建单位", "team.create": "新建队伍", "user.create": "新建用户", "token.issue": "签发接口令牌",
    "volunteer.register": "登记志愿者", "volunteer.import": "导入志愿者", "volunteer.export": "导出志愿者",
    "volunteer.transfer": "志愿者调动", "sign_in_code.issue": "签发登录码", "record.reverse": "冲正服务记录",
    "record.complaint_upheld": "投诉成立", "import.approve": "批准台账导入", "policy.publish": "发布激励办法",
    "policy.adjustment.confirm": "确认追溯调整", "ranking.define": "保存评选办法", "ranking.run": "运行评选",
    "ranking.publish": "发布评选结果", "ranking.supersede": "替代评选结果", "supersede": "替代评选结果",
    "publish": "发布", "targets.report": "保存目标考核报告", "desk.create": "新建兑换点", "desk.price": "调整价格",
    "desk.cancel": "撤销兑换", "certificate.issue": "出具志愿服务证明", "deployment_key.trust": "信任其他部署的密钥",
    "ranking.notice": "评选结果公示", "ranking.objection": "收到公示异议", "ranking.objection_resolved": "答复公示异议",
    "ranking.confirm": "确认最终评选结果", "password.set": "设置密码", "session.open": "登录工作台",
    "token.revoke": "吊销接口令牌", "user.enable": "启用用户", "user.disable": "停用用户",
}
TARGET_NAMES = {"unit": "单位", "team": "队伍", "user": "用户", "volunteer": "志愿者", "service_record": "服务记录",
                "desk": "兑换点", "desk_item": "兑换物品", "receipt": "兑换小票", "certificate": "证明",
                "ranking_definition": "评选办法", "ranking_run": "评选运行", "ranking_notice": "公示",
                "ranking_objection": "公示异议", "target_report": "目标考核报告", "adjustment_run": "追溯调整",
                "deployment": "部署", "batch": "导入批次", "import": "导入批次"}
VALUE_NAMES = {"role": {"admin": "系统管理员", "unit_admin": "单位管理员", "desk_operator": "兑换点操作员",
                        "auditor": "审计员", "volunteer": "志愿者"},
               "outcome": {"upheld": "成立", "dismissed": "不成立"},
               "kind": {"code": "一次性登录码", "pin": "登录 PIN"}}
DETAIL_NAMES = {"code": "编码", "unit_id": "单位", "reason": "原因", "role": "角色", "records": "记录数",
                "points": "积分", "package_id": "转移包", "version": "版本", "to": "调入", "from": "调出",
                "points_difference": "积分差额", "period": "期间", "number": "编号", "minutes": "分钟",
                "label": "名称", "kind": "类别", "fingerprint": "指纹", "by_run_id": "替代为第几次运行",
                "before": "原值", "after": "新值", "effective_from": "生效日期", "content_hash": "内容哈希",
                "as_of": "截至日期", "days": "天数", "run_id": "评选运行", "notice_id": "公示", "outcome": "结论",
                "line": "名单序号", "address": "地址", "definition_id": "评选办法", "position": "台账位置",
                "approved": "批准条数", "item_id": "物品", "quantity": "数量",
                "expires_at": "有效期至", "revoked": "吊销数量", "token_id": "令牌编号",
                "effective_on": "生效日期", "from_unit_id": "调出单位", "to_unit_id": "调入单位",
                "points_moved": "转移积分", "volunteer_id": "志愿者"}
MAX_LIMIT = 500


def audit_entries(session: Session, *, limit: int, before_id: int | None = None, actor: str | None = None,
                  action: str | None = None) -> list[dict]:
    """The newest `limit` entries of the audit log (older than `before_id`; of one actor or action)."""
    query = select(AuditEntry)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    rows = session.execute(query.order_by(AuditEntry.id.desc()).limit(min(limit, MAX_LIMIT))).scalars()
    return [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
             "action_name": ACTION_NAMES.get(e.action, e.action), "target": e.target,
             "target_text": target_text(e.target), "detail": e.detail,
             "detail_text": detail_text(e.detail)} for e in rows]


def target_text(target: str | None) -> str:
    """What an entry is about, for people: "service_record:5" -> "服务记录 5"."""
    kind, _, key = (target or "").partition(":")
    if not key:
        return TARGET_NAMES.get(kind, kind)
    return f"{TARGET_NAMES.get(kind, kind)} {key}"


def detail_text(detail: dict | None) -> str:
    """An entry's details for people: "原因：重复录入；编码：S1" (unknown keys keep their name)."""
    if not detail:
        return ""
    return "；".join(f"{DETAIL_NAMES.get(key, key)}：{_named(key, value)}" for key, value in detail.items())


def _named(key: str, value) -> str:
    """A value in words where it is a code (a role, an outcome), else as it is."""
    if isinstance(value, str) and value in VALUE_NAMES.get(key, {}):
        return VALUE_NAMES[key][value]
    return _value(value)


def _value(value) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "、".join(_value(item) for item in value)
    if isinstance(value, dict):
        return "，".join(f"{DETAIL_NAMES.get(k, k)} {_value(v)}" for k, v in value.items())
    return "" if value is None else str(value)
