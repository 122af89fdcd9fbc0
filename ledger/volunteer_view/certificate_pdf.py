"""The certificate (志愿服务证明) as a PDF: fpdf2 with an embedded CJK font and a QR code.

The font is found at run time (`find_cjk_font`): an explicit path, then the fonts that
scripts/setup-system.sh installs (WenQuanYi Zen Hei, a TrueType collection; Noto CJK, an
OpenType/CFF collection, both embed and subset with fpdf2), then any CJK font fontconfig
knows.  No font found is a clear error, never a PDF of empty boxes.
"""
from __future__ import annotations

import glob
import logging
import shutil
import subprocess
from pathlib import Path

import qrcode
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from ledger.book.amounts import hours_text
from ledger.errors import ServiceUnavailable
from ledger.volunteer_view.certificates import display_code

KNOWN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)
FONT_PATTERNS = ("wqy-zenhei.tt*", "wqy-microhei.tt*", "NotoSansCJK*-Regular.tt*", "NotoSansCJK*-Regular.otf",
                 "NotoSansSC-Regular.*", "SourceHanSans*-Regular.*", "NotoSerifCJK*-Regular.tt*")
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"),
             str(Path.home() / ".local/share/fonts"))
FAMILY = "cjk"
# WenQuanYi carries bitmap (BDF) tables that the subsetter drops with a warning per PDF.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


def find_cjk_font(explicit: str | None = None) -> str:
    """The path of a font that covers Chinese, or a clear error naming how to install one."""
    if explicit:
        if Path(explicit).is_file():
            return explicit
        raise ServiceUnavailable(f"the CJK font {explicit!r} does not exist", field="cjk_font")
    for path in KNOWN_FONTS:
        if Path(path).is_file():
            return path
    for pattern in FONT_PATTERNS:
        for directory in FONT_DIRS:
            found = sorted(glob.glob(f"{directory}/**/{pattern}", recursive=True))
            if found:
                return found[0]
    path = _fontconfig_match()
    if path:
        return path
    raise ServiceUnavailable("no CJK font is installed; run scripts/setup-system.sh "
                             "(installs fonts-wqy-zenhei and fonts-noto-cjk)", field="cjk_font")


def _fontconfig_match() -> str | None:
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out and Path(out).suffix.lower() in (".ttf", ".ttc", ".otf") and Path(out).is_file() else None


def qr_png(url: str):
    """A QR code (PIL image) of the public verification URL."""
    qr = qrcode.QRCode(border=1, box_size=8, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(url)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image()


def _date_cn(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{int(year)}年{int(month)}月{int(day)}日"


def render_certificate(content: dict, code: str, verify_url: str, font_path: str | None = None) -> bytes:
    """The certificate as PDF bytes (A4), from its registered content and verification code."""
    pdf = FPDF(format="A4")
    pdf.set_title(f"志愿服务证明 {content['number']}")
    pdf.set_creator("volunteer ledger")
    font = find_cjk_font(font_path)
    pdf.add_font(FAMILY, "", font)
    pdf.add_font(FAMILY, "B", font)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    _header(pdf, content)
    _body(pdf, content)
    _services(pdf, content)
    _footer(pdf, content, code, verify_url)
    return bytes(pdf.output())


def _header(pdf: FPDF, content: dict) -> None:
    pdf.set_font(FAMILY, "B", 24)
    pdf.cell(0, 16, "志愿服务证明", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 10)
    pdf.cell(0, 6, f"证明编号：{content['number']}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _body(pdf: FPDF, content: dict) -> None:
    volunteer, period = content["volunteer"], content["period"]
    id_part = f"{volunteer['id_type']}：{volunteer['id_masked']}，" if volunteer.get("id_masked") else ""
    text = (f"兹证明 {volunteer['name']}（{id_part}志愿者编号：{volunteer['number']}）"
            f"于 {_date_cn(period['from'])} 至 {_date_cn(period['to'])} 期间参加志愿服务，"
            f"经核实并已入账的志愿服务时长累计 {content['hours']} 小时"
            f"（{content['minutes']} 分钟），共 {len(content['services'])} 次。服务内容如下：")
    pdf.set_font(FAMILY, "", 12)
    pdf.multi_cell(0, 8, text, wrapmode="CHAR", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _services(pdf: FPDF, content: dict) -> None:
    pdf.set_font(FAMILY, "", 9.5)
    headings = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))
    with pdf.table(col_widths=(22, 70, 24, 46, 18), line_height=5, wrapmode="CHAR", text_align="LEFT",
                   headings_style=headings, padding=0.8) as table:
        table.row(["日期", "服务内容（活动）", "类别", "服务单位", "时长(小时)"])
        for item in content["services"]:
            table.row([item["date"], item["activity"], item["category"], item["unit"], hours_text(item["minutes"])])
    pdf.ln(4)


def _footer(pdf: FPDF, content: dict, code: str, verify_url: str) -> None:
    issuer = content["issuer"]
    if pdf.get_y() > pdf.h - 80:
        pdf.add_page()
    top = pdf.get_y()
    pdf.set_font(FAMILY, "", 11)
    lines = [f"出具单位：{issuer['unit']}（盖章）", f"单位负责人：{issuer['responsible_person'] or '—'}",
             f"经办人：{issuer['clerk']}", f"联系方式：{issuer['contact'] or '—'}",
             f"出具日期：{_date_cn(content['issued_on'])}", f"证明编号：{content['number']}",
             f"验证码：{display_code(code)}"]
    for line in lines:
        pdf.cell(130, 7, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.image(qr_png(verify_url), x=pdf.w - pdf.r_margin - 40, y=top, w=40, h=40)
    pdf.set_xy(pdf.w - pdf.r_margin - 44, top + 41)
    pdf.set_font(FAMILY, "", 8)
    pdf.cell(48, 5, "扫码核验真伪", align="C")
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + 7 * len(lines)) + 4)
    pdf.set_font(FAMILY, "", 8.5)
    pdf.multi_cell(0, 5, f"核验网址：{verify_url}\n本证明仅统计已审核入账、未被冲正的服务记录；"
                         "凭证明编号和验证码可在上述网址核验真伪。", wrapmode="CHAR")
