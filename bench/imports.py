"""`python -m bench.imports`: the server's peak memory while it imports hostile 台账 files.

Issue 15, finding 3: a 19.5 MB CSV of 135,000 identical rows took the server to 23.7 GB, a
288 KB file to 2 GB, an XLSX expanding to 186 MB to 620 MB.  Each case here starts the real
service (uvicorn, one process, loopback) over a database of its own, reads the process's
VmHWM (peak resident memory, /proc/<pid>/status) once it is up, uploads one file to
`POST /imports`, and reads VmHWM again.  The goal: the peak stays under 300 MB whatever the
file.  The largest files the service accepts (10,000 valid rows, CSV and XLSX) are measured
too: they are imported (as pending records), the heaviest legitimate upload.

    python -m bench.imports [--engine sqlite|postgresql] [--cases csv-135k-identical,...]

Prints a table and writes it as JSON to bench/results/imports-<time>.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from bench.writes import Server
from ledger.people import auth, org
from ledger.people.access import SYSTEM
from ledger.people.idcard import id_check_digit
from ledger.service.sheets import MAX_ROWS
from ledger.service.taizhang import COLUMNS
from ledger.store.db import make_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import Context

GOAL_MB = 300
STATION = "东风村新时代文明实践站"
RESULTS = Path(__file__).with_name("results")
IDENTICAL = f"1,朱敏,330322200103213154,15110655224,{STATION},广场舞教学,文化文艺,2025-05-28,19:00,20:00,1小时,杨站长"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the files -------------------------------------------------------------------------------

def identical_csv(rows: int) -> Iterator[bytes]:
    """A CSV of `rows` identical rows: one person, one time (every row overlaps every other)."""
    yield ("\ufeff" + ",".join(COLUMNS) + "\n").encode("utf-8")
    for _ in range(rows):
        yield (IDENTICAL + "\n").encode("utf-8")


def valid_rows(rows: int) -> Iterator[list[str]]:
    """`rows` valid services: people of ten services each, on ten days of 2025, never overlapping."""
    for n in range(rows):
        person, service = divmod(n, 10)
        first17 = f"330322{dt.date(1960, 1, 1) + dt.timedelta(days=person):%Y%m%d}{person % 1000:03d}"
        day = dt.date(2025, 1, 1) + dt.timedelta(days=service * 30 + person % 28)
        yield [str(n + 1), f"志愿者{person}", first17 + id_check_digit(first17), "", STATION,
               f"活动{service}", "文化文艺", day.isoformat(), "09:00", "11:30", "2.5", "站长"]


def valid_csv(rows: int) -> Iterator[bytes]:
    yield ("\ufeff" + ",".join(COLUMNS) + "\n").encode("utf-8")
    for cells in valid_rows(rows):
        yield (",".join(cells) + "\n").encode("utf-8")


_PACKAGE = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.'
    'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def _xml_row(number: int, cells: list[str]) -> str:
    return f'<row r="{number}">' + "".join(f'<c t="inlineStr"><is><t>{c}</t></is></c>' for c in cells) + "</row>"


def xlsx_file(path: Path, rows: Iterator[list[str]], *, dimension_rows: int | None = None) -> None:
    """An XLSX written by hand, streamed (any size), with inline strings in its one sheet."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in _PACKAGE.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            head = '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/' \
                   'spreadsheetml/2006/main">'
            if dimension_rows:
                head += f'<dimension ref="A1:L{dimension_rows}"/>'
            sheet.write((head + "<sheetData>" + _xml_row(1, list(COLUMNS))).encode("utf-8"))
            for number, cells in enumerate(rows, start=2):
                sheet.write(_xml_row(number, cells).encode("utf-8"))
            sheet.write(b"</sheetData></worksheet>")


def xlsx_shared_strings(path: Path, strings: int, length: int) -> None:
    """An XLSX whose shared-string table holds `strings` unique texts of `length` characters
    (openpyxl reads the whole table into memory), used by ten rows of the sheet."""
    package = dict(_PACKAGE)
    package["[Content_Types].xml"] = package["[Content_Types].xml"].replace(
        "</Types>", '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                    'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    package["xl/_rels/workbook.xml.rels"] = package["xl/_rels/workbook.xml.rels"].replace(
        "</Relationships>", '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                            'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in package.items():
            archive.writestr(name, content)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
            table.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
                        f'spreadsheetml/2006/main" count="{strings}" uniqueCount="{strings}">'.encode())
            for n in range(strings):
                table.write(f"<si><t>{n:0{length}d}</t></si>".encode())
            table.write(b"</sst>")
        rows = "".join(f'<row r="{r}">' + "".join(f'<c t="s"><v>{r * 12 + c}</v></c>' for c in range(12)) + "</row>"
                       for r in range(1, 11))
        archive.writestr("xl/worksheets/sheet1.xml", '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://'
                         f'schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>')


def one_long_line(size: int) -> Iterator[bytes]:
    """A CSV whose second line is `size` bytes of one-character fields (millions of cells in one row)."""
    yield (",".join(COLUMNS) + "\n").encode("utf-8")
    for _ in range(size // (1024 * 1024)):
        yield b"1," * (512 * 1024)
    yield b"\n"


def quoted_row_bomb(lines: int) -> Iterator[bytes]:
    """A CSV whose one data row runs over many short lines (each begins with a quoted line break),
    30,000 fields a line: fewer lines than the line limit, every line under the row limit."""
    yield (",".join(COLUMNS) + "\n").encode("utf-8")
    for _ in range(lines):
        yield b'"\n",' + b"1," * 30_000
    yield b"\n"


def heavy_text_rows(rows: int, length: int) -> Iterator[bytes]:
    """Valid rows with a 13th column (备注, read and kept, never used) of `length` characters, one
    of them outside the BMP (Python then stores every character of the cell in four bytes)."""
    yield ("\ufeff" + ",".join(COLUMNS) + ",备注\n").encode("utf-8")
    for cells in valid_rows(rows):
        yield (",".join(cells) + ",\U0001F600" + "长" * (length - 1) + "\n").encode("utf-8")


def _repeat(cells: list[str], count: int) -> Iterator[list[str]]:
    for _ in range(count):
        yield cells


def _stream(path: Path, chunks: Iterator[bytes]) -> None:
    with open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)


CASES: dict[str, tuple[str, Callable[[Path], None]]] = {
    # the issue's files
    "csv-135k-identical": ("csv", lambda p: _stream(p, identical_csv(135_000))),
    "csv-2.6k-identical": ("csv", lambda p: _stream(p, identical_csv(2_600))),  # ~288 KB
    "xlsx-186mb-expanded": ("xlsx", lambda p: xlsx_file(p, _repeat(IDENTICAL.split(","), 311_000))),
    # just inside the limits: refused by the row limit while streaming
    "xlsx-39mb-expanded-rows": ("xlsx", lambda p: xlsx_file(p, _repeat(IDENTICAL.split(","), 68_000))),
    "xlsx-lying-dimension": ("xlsx", lambda p: xlsx_file(p, _repeat(IDENTICAL.split(","), 10),
                                                         dimension_rows=1_048_576)),
    "csv-10k-identical": ("csv", lambda p: _stream(p, identical_csv(MAX_ROWS))),
    "csv-19mb-one-line": ("csv", lambda p: _stream(p, one_long_line(19 * 1024 * 1024))),
    "csv-18mb-quoted-row": ("csv", lambda p: _stream(p, quoted_row_bomb(300))),
    "xlsx-37mb-shared-strings": ("xlsx", lambda p: xlsx_shared_strings(p, 1_200_000, 16)),
    "xlsx-7.4mb-shared-strings": ("xlsx", lambda p: xlsx_shared_strings(p, 240_000, 16)),
    # just inside the text limit: 10,000 valid rows with 300 four-byte characters of remarks each
    "csv-10k-rows-heavy-text": ("csv", lambda p: _stream(p, heavy_text_rows(MAX_ROWS, 300))),
    # the largest files accepted: imported
    "csv-10k-valid": ("csv", lambda p: _stream(p, valid_csv(MAX_ROWS))),
    "xlsx-10k-valid": ("xlsx", lambda p: xlsx_file(p, valid_rows(MAX_ROWS))),
}


# --- the measurement ---------------------------------------------------------------------------

def vm_hwm_mb(pid: int) -> float:
    """The peak resident memory of a process so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def fresh_database(engine: str, name: str) -> str:
    """A new migrated database with the station the files name and an importer's token."""
    if engine == "postgresql":
        from bench.__main__ import fresh_pg

        url = fresh_pg(f"ledger_bench_imports_{name.replace('-', '_').replace('.', '_')}")
    else:
        path = Path("var") / f"bench-imports-{name}.sqlite3"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    upgrade(url)
    return url


def seed(url: str) -> str:
    """A county with the files' station; returns a token of a unit admin at the center."""
    ctx = Context(engine=make_engine(url), secret_key=b"bench-secret-key", deployment_id="bench")
    with ctx.uow() as uow:
        s = uow.session
        center = org.create_unit(s, SYSTEM, org.CreateUnit("C-bench", "基准县新时代文明实践中心", "center"))
        institute = org.create_unit(s, SYSTEM, org.CreateUnit("I-bench", "城关镇新时代文明实践所", "institute",
                                                              center["id"]))
        org.create_unit(s, SYSTEM, org.CreateUnit("S-bench", STATION, "station", institute["id"]))
        user = auth.create_user(s, SYSTEM, auth.CreateUser(username="importer", role="unit_admin",
                                                           unit_id=center["id"]))
        token = auth.issue_token(s, user)
        uow.commit()
    ctx.engine.dispose()
    return token


def measure(engine: str, name: str, kind: str, path: Path) -> dict:
    """Start a server, upload the file once, and read its peak memory before and after."""
    import httpx

    url = fresh_database(engine, name)
    token = seed(url)
    with Server(url, workers=1) as server:
        before = vm_hwm_mb(server.proc.pid)
        started = time.perf_counter()
        with open(path, "rb") as upload:
            response = httpx.post(f"{server.base}/imports", timeout=600,
                                  files={"file": (f"{name}.{kind}", upload, "application/octet-stream")},
                                  headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
        seconds = time.perf_counter() - started
        peak = vm_hwm_mb(server.proc.pid)
    body = response.json()
    answer = body.get("message") if response.status_code != 201 else f"imported {body.get('records')} records"
    return {"case": name, "file_mb": round(path.stat().st_size / 1024 / 1024, 2), "status": response.status_code,
            "answer": (answer or "")[:90], "seconds": round(seconds, 2), "vm_hwm_at_start_mb": round(before, 1),
            "vm_hwm_peak_mb": round(peak, 1), "goal_mb": GOAL_MB, "meets_goal": peak < GOAL_MB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated, of: " + ", ".join(CASES))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.cases.split(","):
            kind, make = CASES[name]
            path = Path(folder) / f"{name}.{kind}"
            make(path)
            log(f"{name}: {path.stat().st_size / 1024 / 1024:.1f} MB, uploading")
            results.append(measure(args.engine, name, kind, path))
            log(json.dumps(results[-1], ensure_ascii=False))
            path.unlink()
    print(f"{'case':26} {'file MB':>8} {'status':>6} {'start MB':>9} {'peak MB':>8} {'goal':>5}  answer")
    for r in results:
        print(f"{r['case']:26} {r['file_mb']:8} {r['status']:6} {r['vm_hwm_at_start_mb']:9} {r['vm_hwm_peak_mb']:8} "
              f"{'ok' if r['meets_goal'] else 'MISS':>5}  {r['answer']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"imports-{args.engine}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"engine": args.engine, "pid": os.getpid(), "results": results},
                              ensure_ascii=False, indent=2))
    log(f"written {out}")


if __name__ == "__main__":
    main()
