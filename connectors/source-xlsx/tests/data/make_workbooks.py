"""Workbook producers for source-xlsx tests: `python make_workbooks.py KIND OUT`.

openpyxl writes xlsx, xlwt writes .xls (BIFF8), odfpy writes .ods, msoffcrypto-tool encrypts an xlsx.
"""
import datetime as dt
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path


def lab_rows():
    return [
        ("S-1", 38.2, True, dt.datetime(2026, 3, 2, 9, 15)),
        ("S-2", 36.9, False, dt.datetime(2026, 3, 2, 9, 40)),
        ("S-3", 22.5, True, dt.datetime(2026, 3, 3, 14, 5)),
    ]


def openpyxl_book():
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Lab"
    ws.append(["Sample", "Strength", "Passed", "Tested at"])
    for r in lab_rows():
        ws.append(list(r))
    return wb


def errors(out):
    """Formula error cells (#DIV/0!, #N/A) in a number column and a text column."""
    wb = openpyxl_book()
    ws = wb["Lab"]
    ws.append(["S-4", "#DIV/0!", True, dt.datetime(2026, 3, 4)])
    ws.append(["#N/A", 12.5, False, dt.datetime(2026, 3, 5)])
    wb.save(out)


def epoch1904(out):
    """The 1904 date system (old Mac Excel): serials are 1462 days smaller."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    wb = openpyxl_book()
    wb.epoch = CALENDAR_MAC_1904
    ws = wb["Lab"]
    ws["E1"] = "Due"
    ws["E2"] = dt.date(2024, 2, 29)
    ws["E2"].number_format = "yyyy-mm-dd"
    wb.save(out)


def merged(out):
    """A merged header over two columns and merged data cells."""
    wb = openpyxl_book()
    ws = wb["Lab"]
    ws.insert_rows(1)
    ws["A1"] = "Sample info"
    ws.merge_cells("A1:B1")
    ws["C1"] = "Result"
    ws.merge_cells("C1:D1")
    ws.merge_cells("A3:A4")
    wb.save(out)


def trailing_empty(out):
    """Formatted but empty rows after the data, and a blank row in the middle."""
    from openpyxl.styles import Font

    wb = openpyxl_book()
    ws = wb["Lab"]
    ws.insert_rows(3)
    for row in range(6, 40):
        ws.cell(row=row, column=1).font = Font(bold=True)
        ws.cell(row=row, column=2).value = None
        ws.cell(row=row, column=2).number_format = "0.00"
    wb.save(out)


def dimension_claim(out):
    """A sheet whose <dimension> claims A1:D1048576 while it holds 4 rows."""
    tmp = Path(tempfile.mkdtemp()) / "plain.xlsx"
    openpyxl_book().save(tmp)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index('<dimension ref="')
                end = text.index('"', start + len('<dimension ref="'))
                text = text[:start] + '<dimension ref="A1:D1048576' + text[end:]
                data = text.encode()
            dst.writestr(item, data)
    shutil.rmtree(tmp.parent)


def broken_sheet(out):
    """A valid zip whose second sheet's XML is cut off in the middle of the rows."""
    wb = openpyxl_book()
    other = wb.create_sheet("Broken")
    other.append(["ID", "Name"])
    for i in range(200):
        other.append([i, f"row {i}"])
    tmp = Path(tempfile.mkdtemp()) / "plain.xlsx"
    wb.save(tmp)
    with zipfile.ZipFile(tmp) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet2.xml":
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    shutil.rmtree(tmp.parent)


def password(out):
    """An xlsx encrypted with a password (an OLE container, as Excel writes it)."""
    import msoffcrypto
    from msoffcrypto.format.ooxml import OOXMLFile

    tmp = Path(tempfile.mkdtemp()) / "plain.xlsx"
    openpyxl_book().save(tmp)
    with open(tmp, "rb") as f, open(out, "wb") as o:
        OOXMLFile(f).encrypt("s3cret-pass", o)
    shutil.rmtree(tmp.parent)
    assert msoffcrypto  # imported to fail early when the package is missing


def corrupt(out):
    """A valid xlsx cut in half."""
    tmp = Path(tempfile.mkdtemp()) / "plain.xlsx"
    openpyxl_book().save(tmp)
    data = tmp.read_bytes()
    Path(out).write_bytes(data[: len(data) // 2])
    shutil.rmtree(tmp.parent)


def header_only(out):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Empty table"
    wb.active.append(["Sample", "Strength"])
    other = wb.create_sheet("Blank")
    assert other is not None
    wb.save(out)


def xls(out):
    """BIFF8 .xls with two sheets, dates, numbers, booleans (xlwt)."""
    import xlwt

    wb = xlwt.Workbook()
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    ws = wb.add_sheet("Lab")
    for c, h in enumerate(["Sample", "Strength", "Passed", "Tested at"]):
        ws.write(0, c, h)
    for r, (s, v, p, t) in enumerate(lab_rows(), start=1):
        ws.write(r, 0, s)
        ws.write(r, 1, v)
        ws.write(r, 2, p)
        ws.write(r, 3, t, date_style)
    sup = wb.add_sheet("Suppliers")
    sup.write(0, 0, "ID")
    sup.write(0, 1, "Name")
    for r, (i, n) in enumerate([(1001, "Nordbeton"), (1002, "Acier du Rhin")], start=1):
        sup.write(r, 0, i)
        sup.write(r, 1, n)
    wb.save(out)


def ods(out):
    """OpenDocument spreadsheet with two sheets: dates, times, floats, booleans (odfpy)."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()

    def cell(value):
        if isinstance(value, bool):
            c = TableCell(valuetype="boolean", booleanvalue="true" if value else "false")
        elif isinstance(value, (int, float)):
            c = TableCell(valuetype="float", value=value)
        elif isinstance(value, dt.datetime):
            c = TableCell(valuetype="date", datevalue=value.strftime("%Y-%m-%dT%H:%M:%S"))
        elif isinstance(value, dt.time):
            c = TableCell(valuetype="time", timevalue=value.strftime("PT%HH%MM%SS"))
        else:
            c = TableCell(valuetype="string")
        c.addElement(P(text=str(value)))
        return c

    lab = Table(name="Lab")
    rows = [["Sample", "Strength", "Passed", "Tested at", "Shift"]] + [
        list(r) + [dt.time(7 + i, 30)] for i, r in enumerate(lab_rows())
    ]
    for values in rows:
        tr = TableRow()
        for v in values:
            tr.addElement(cell(v))
        lab.addElement(tr)
    doc.spreadsheet.addElement(lab)
    sup = Table(name="Suppliers")
    for values in [["ID", "Name"], [1001, "Nordbeton"], [1002, "Acier du Rhin"]]:
        tr = TableRow()
        for v in values:
            tr.addElement(cell(v))
        sup.addElement(tr)
    doc.spreadsheet.addElement(sup)
    doc.save(out)


def multi(out):
    """Three sheets with 5, 7 and 3 data rows (PyAirbyte test)."""
    from openpyxl import Workbook

    wb = Workbook()
    for i, (name, n) in enumerate([("Materials", 5), ("Suppliers", 7), ("Lab Results", 3)]):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = name
        ws.append(["ID", "Name", "Value", "Checked on"])
        for r in range(n):
            ws.append([r + 1, f"{name} {r + 1}", r * 1.5, dt.date(2026, 1, 1 + r)])
    wb.save(out)


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    globals()[kind](out)
