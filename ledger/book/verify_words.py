"""What `verify` found, in Chinese sentences for the audit page (the report keeps its codes).

Each problem of the report (`check`, `table`, `row`, English `detail`) gets a sentence that
says what differs and where, with the figures the check reported; a check this module does
not know is still shown, by its code and row.
"""
from __future__ import annotations

import re

CHECK_NAMES = {
    "transaction_hash": "交易内容与其哈希不符（内容可能被改动）",
    "posting_date": "分录日期与所属交易的日期不一致",
    "transaction_key": "交易与其幂等键记录不一致",
    "posting_orphan": "分录指向不存在的交易",
    "balanced": "交易的分录合计不为零（借贷不平）",
    "balance": "账户余额缓存与分录合计不符",
    "year_minutes": "志愿者年度时长缓存与分录合计不符",
    "checkpoint": "封存检查点与其所封存的交易不符",
    "checkpoint_signature": "封存检查点没有本部署密钥的有效签名（可能被伪造或重新封存）",
    "certificate": "志愿服务证明与其登记的哈希或验证码不符",
}
ROW_NAMES = {"transactions": "交易", "postings": "交易", "transaction_keys": "交易", "accounts": "账户",
             "volunteer_year_minutes": "志愿者", "checkpoints": "检查点"}
_NUMBERS = re.compile(r"-?\d+")


def verify_in_chinese(report: dict) -> dict:
    """The verdict, the counts and each problem as Chinese sentences."""
    problems = [problem_text(problem) for problem in report.get("problems", [])]
    counts = (f"共核对交易 {report.get('transactions', 0)} 笔、分录 {report.get('postings', 0)} 条、"
              f"账户 {report.get('accounts', 0)} 个、封存检查点 {report.get('checkpoints', 0)} 个。")
    if report.get("ok"):
        verdict = "核验通过：台账完整，所有余额与分录一致，哈希链未被改动。"
    else:
        verdict = f"核验发现 {len(problems)} 处问题，请立即联系系统管理员，并保留本页结果。"
    return {"ok": bool(report.get("ok")), "verdict": verdict, "counts": counts, "problems": problems}


def problem_text(problem: dict) -> str:
    """One problem as a sentence: where (table and row) and what differs."""
    check = problem.get("check", "")
    what = CHECK_NAMES.get(check, f"检查项 {check} 未通过")
    where = f"{ROW_NAMES.get(problem.get('table', ''), '记录')}编号 {problem.get('row')}"
    figures = _figures(check, problem)
    return f"{where}：{what}" + (f"（{figures}）" if figures else "") + "。"


def _figures(check: str, problem: dict) -> str:
    """The amounts the check reported, where its detail carries them."""
    numbers = _NUMBERS.findall(str(problem.get("detail", "")))
    if check == "balance" and len(numbers) >= 2:
        return f"缓存余额 {numbers[-2]}，分录合计 {numbers[-1]}"
    if check == "year_minutes" and len(numbers) >= 3:
        return f"{problem.get('year', numbers[-2])} 年缓存 {numbers[-3]} 分钟，分录合计 {numbers[-1]} 分钟"
    if check == "balanced" and numbers:
        return f"合计 {numbers[-2] if len(numbers) > 1 and numbers[-1] == '0' else numbers[-1]}"
    if check == "posting_orphan" and numbers:
        return f"{numbers[0]} 条分录"
    return ""
