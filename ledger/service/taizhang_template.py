"""The 台账 template stations download: Chinese headers, an example row, and the accepted
formats written out as sentences on a second sheet."""
from __future__ import annotations

from ledger.service.taizhang import COLUMNS, REQUIRED_COLUMNS
from ledger.spreadsheet import Sheet, workbook

EXAMPLE = (1, "王小明", "11010519491231002X", "13800138000", "东风村新时代文明实践站", "环境整治", "卫生环保",
           "2026-11-05", "08:30", "11:30", "3小时", "杨站长")

EXPLANATION = (
    ("必填列", "、".join(REQUIRED_COLUMNS) + "。其余各列可以留空；列的顺序不限，常见的列名写法（如“身份证号码”“手机号”）也能识别。"),
    ("服务日期", "写成 2026-11-05、2026/11/5 或 2026年11月5日，也可以是 Excel 的日期格式。"),
    ("开始时间、结束时间", "写成 08:30 这样的 24 小时制时间，也可以是 Excel 的时间格式；结束时间必须晚于开始时间，一条记录不超过一天。"),
    ("服务时长", "可以留空（按起止时间计算）；填写时写成 3、3小时、2.5h 或 90分钟，不含路途时间。"),
    ("身份证号", "18 位，末位可以是 X；系统只保存加密摘要和打码后的号码。同一身份证号对应同一名志愿者。"),
    ("所属站点", "写站点的全称，必须是您管辖范围内的站点。"),
    ("服务类别", "写嘉许激励办法中的类别，如 理论政策宣讲、文化文艺、助学支教、医疗健身、科学普及、法律服务、卫生环保、扶贫帮困。"),
    ("导入规则", "整份台账要么全部导入，要么一行也不导入：有错误的行会逐行列出原因，改正后重新上传。导入后的记录需要另一位管理员审核后才入账。"),
)


def template_xlsx() -> bytes:
    """The template workbook: the 台账 sheet (headers and one example row) and its explanation."""
    return workbook([Sheet("台账", COLUMNS, [EXAMPLE]),
                     Sheet("填写说明", ("项目", "说明"), EXPLANATION, landscape=False)])
