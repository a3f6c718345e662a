"""A small .xlsb (Excel binary workbook) writer for source-xlsx tests: `python make_xlsb.py KIND OUT [--verify]`.

Nothing installed writes .xlsb, so this writes one from the published format ([MS-XLSB]): a zip of
[Content_Types].xml, relationship parts and BIFF12 record streams (workbook.bin, worksheets/sheetN.bin,
sharedStrings.bin, styles.bin). A record is its type (1-2 bytes of 7 bits, high bit = "more"), its payload size
(1-4 bytes of 7 bits, same scheme) and the payload. Standard library only.

`--verify` reads the written file back with pyxlsb (an independent reader, in the `.venv/xlsb` venv) and exits
non-zero when a sheet name, cell position or value differs from what was written. `self_test` proves the
check can fail: it compares a workbook with deliberately wrong expectations and must see the mismatch.
"""
import datetime as dt
import math
import struct
import sys
import zipfile

# ---------------------------------------------------------------- record types (MS-XLSB 2.3, 2.4)
BRT_ROW_HDR = 0x0000
BRT_CELL_BLANK = 0x0001
BRT_CELL_RK = 0x0002
BRT_CELL_ERROR = 0x0003
BRT_CELL_BOOL = 0x0004
BRT_CELL_REAL = 0x0005
BRT_CELL_ISST = 0x0007
BRT_SST_ITEM = 0x0013
BRT_FONT = 0x002B
BRT_FMT = 0x002C
BRT_FILL = 0x002D
BRT_BORDER = 0x002E
BRT_XF = 0x002F
BRT_STYLE = 0x0030
BRT_BEGIN_SHEET = 0x0081
BRT_END_SHEET = 0x0082
BRT_BEGIN_BOOK = 0x0083
BRT_END_BOOK = 0x0084
BRT_BEGIN_BUNDLE_SHS = 0x008F
BRT_END_BUNDLE_SHS = 0x0090
BRT_BEGIN_SHEET_DATA = 0x0091
BRT_END_SHEET_DATA = 0x0092
BRT_WS_DIM = 0x0094
BRT_WB_PROP = 0x0099
BRT_BUNDLE_SH = 0x009C
BRT_CALC_PROP = 0x009D
BRT_BEGIN_SST = 0x009F
BRT_END_SST = 0x00A0
BRT_BEGIN_STYLE_SHEET = 0x0116
BRT_END_STYLE_SHEET = 0x0117
BRT_BEGIN_DXFS = 0x01F9
BRT_END_DXFS = 0x01FA
BRT_BEGIN_TABLE_STYLES = 0x01FC
BRT_END_TABLE_STYLES = 0x01FD
BRT_BEGIN_FILLS = 0x025B
BRT_END_FILLS = 0x025C
BRT_BEGIN_FONTS = 0x0263
BRT_END_FONTS = 0x0264
BRT_BEGIN_BORDERS = 0x0265
BRT_END_BORDERS = 0x0266
BRT_BEGIN_FMTS = 0x0267
BRT_END_FMTS = 0x0268
BRT_BEGIN_CELL_XFS = 0x0269
BRT_END_CELL_XFS = 0x026A
BRT_BEGIN_STYLES = 0x026B
BRT_END_STYLES = 0x026C
BRT_BEGIN_CELL_STYLE_XFS = 0x0272
BRT_END_CELL_STYLE_XFS = 0x0273

# BErr codes (MS-XLSB 2.5.97.2)
ERRORS = {"#NULL!": 0x00, "#DIV/0!": 0x07, "#VALUE!": 0x0F, "#REF!": 0x17, "#NAME?": 0x1D, "#NUM!": 0x24, "#N/A": 0x2A}


def varint(value, max_bytes):
    """7 bits per byte, least significant first, high bit set while more bytes follow."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            break
    assert len(out) <= max_bytes, "record type or size out of range"
    return bytes(out)


def record(rtype, payload=b""):
    return varint(rtype, 2) + varint(len(payload), 4) + payload


def wide(text):
    """XLWideString: character count (u32) and UTF-16LE."""
    data = text.encode("utf-16-le")
    return struct.pack("<I", len(data) // 2) + data


# ---------------------------------------------------------------- cell values


class Cell:
    """One stored cell: `kind` is rk, real, sst, bool, error or blank; `style` indexes the cell XFs."""

    def __init__(self, kind, value=None, style=0):
        self.kind, self.value, self.style = kind, value, style

    def expected(self):
        """The value pyxlsb gives back for this cell."""
        if self.kind in ("rk", "rk_float", "real"):
            return float(self.value)
        if self.kind == "error":
            return hex(ERRORS[self.value])
        if self.kind == "blank":
            return None
        return self.value


def rk(value, style=0):
    return Cell("rk", value, style)


def rk_float(value, style=0):
    """An RK cell in the float form (the double's upper 32 bits), also for whole numbers."""
    return Cell("rk_float", value, style)


def real(value, style=0):
    return Cell("real", value, style)


def err(text):
    return Cell("error", text)


def blank(style=0):
    return Cell("blank", None, style)


def cell(value):
    """A plain Python value as the record Excel would choose: RK for numbers that fit, else a real."""
    if isinstance(value, Cell):
        return value
    if isinstance(value, bool):
        return Cell("bool", value)
    if isinstance(value, str):
        return Cell("sst", value)
    if isinstance(value, (int, float)):
        return Cell("rk", value) if rk_number(value) is not None else Cell("real", value)
    raise TypeError(f"no cell for {value!r}")


def rk_number(value, integer_form=True):
    """The RkNumber (MS-XLSB 2.5.122) for value, or None when it has no exact RK form. Whole numbers take the
    integer form unless `integer_form` is false (then the float form, when the double allows it)."""
    if integer_form and (isinstance(value, int) or float(value).is_integer()):
        n = int(value)
        if -(1 << 29) <= n < (1 << 29):
            return (n << 2 | 0b10) & 0xFFFFFFFF
    bits = struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    if bits & 0xFFFFFFFF == 0 and (bits >> 32) & 0b11 == 0:
        return bits >> 32  # the double's upper 32 bits, its lower 32 bits all zero
    hundred = round(value * 100)
    if hundred / 100 == value and -(1 << 29) <= hundred < (1 << 29):
        return (hundred << 2 | 0b11) & 0xFFFFFFFF  # integer divided by 100
    return None


def cell_record(col, c, sst_index):
    head = struct.pack("<II", col, c.style & 0xFFFFFF)  # Cell: column, iStyleRef (24 bits), flags
    if c.kind in ("rk", "rk_float"):
        number = rk_number(c.value, integer_form=c.kind == "rk")
        if number is None:
            raise ValueError(f"{c.value!r} has no RK form")
        return record(BRT_CELL_RK, head + struct.pack("<I", number))
    if c.kind == "real":
        return record(BRT_CELL_REAL, head + struct.pack("<d", float(c.value)))
    if c.kind == "sst":
        return record(BRT_CELL_ISST, head + struct.pack("<I", sst_index(c.value)))
    if c.kind == "isst":  # a raw shared-string index, for corrupt files
        return record(BRT_CELL_ISST, head + struct.pack("<I", c.value))
    if c.kind == "bool":
        return record(BRT_CELL_BOOL, head + bytes([1 if c.value else 0]))
    if c.kind == "error":
        return record(BRT_CELL_ERROR, head + bytes([ERRORS[c.value]]))
    if c.kind == "blank":
        return record(BRT_CELL_BLANK, head)
    raise ValueError(c.kind)


# ---------------------------------------------------------------- parts


def sheet_part(rows, sst_index, cut=None):
    """A worksheet stream. `rows` maps 0-based row -> list of cells (None = no cell)."""
    used = [(r, [(c, cell(v)) for c, v in enumerate(vals) if v is not None]) for r, vals in sorted(rows.items())]
    cells = [(r, c) for r, cs in used for c, _ in cs]
    if cells:
        dim = (min(r for r, _ in cells), max(r for r, _ in cells), min(c for _, c in cells), max(c for _, c in cells))
    else:
        dim = (0, 0, 0, 0)
    out = bytearray(record(BRT_BEGIN_SHEET))
    out += record(BRT_WS_DIM, struct.pack("<IIII", *dim))  # rwFirst, rwLast, colFirst, colLast
    out += record(BRT_BEGIN_SHEET_DATA)
    for r, cs in used:
        # BrtRowHdr: rw, ixf, miyRw (height in twips), flags (2 bytes), fPhShow (1 byte), ccolspan, column spans
        spans = struct.pack("<III", 1, cs[0][0], cs[-1][0]) if cs else struct.pack("<I", 0)
        out += record(BRT_ROW_HDR, struct.pack("<IIHHB", r, 0, 300, 0, 0) + spans)
        for c, v in cs:
            out += cell_record(c, v, sst_index)
    out += record(BRT_END_SHEET_DATA)
    out += record(BRT_END_SHEET)
    data = bytes(out)
    return data[: int(len(data) * cut)] if cut else data


def sst_part(strings, references):
    out = bytearray(record(BRT_BEGIN_SST, struct.pack("<II", references, len(strings))))
    for s in strings:
        out += record(BRT_SST_ITEM, b"\x00" + wide(s))  # RichStr without rich text or phonetics
    out += record(BRT_END_SST)
    return bytes(out)


# Number formats: built-in 14 is a date (m/d/yyyy), 22 a date-time (m/d/yyyy h:mm); 164+ are custom.
CUSTOM_FORMATS = {164: "yyyy-mm-dd hh:mm", 165: "yyyy-mm-dd", 166: '0" d"', 167: "dd\\.mm\\.yyyy"}
# Without custom formats (Excel then writes no BrtBeginFmts), the custom ones are replaced by built-in ones.
BUILTIN_INSTEAD = {164: 22, 165: 14, 166: 1, 167: 14}
# Cell XFs by index (the iStyleRef of a cell): their number format.
STYLES = {"general": (0, 0), "date": (1, 14), "datetime": (2, 164), "iso_date": (3, 165), "fixed2": (4, 2),
          "days": (5, 166), "dotted_date": (6, 167)}


def style(name):
    return STYLES[name][0]


def color_theme(index):
    return struct.pack("<BBhBBBB", 0x07, index, 0, 0, 0, 0, 0xFF)  # xColorType theme, valid, no tint


def xf(parent, fmt):
    # ixfeParent, iFmt, iFont, iFill, ixBorder, trot, indent, alignment/protection bits (fLocked), xfGrbitAtr
    return record(BRT_XF, struct.pack("<HHHHHBBHH", parent, fmt, 0, 0, 0, 0, 0, 0x1000, 0))


def styles_part(custom_formats):
    out = bytearray(record(BRT_BEGIN_STYLE_SHEET))
    if custom_formats:
        out += record(BRT_BEGIN_FMTS, struct.pack("<I", len(CUSTOM_FORMATS)))
        for code, text in CUSTOM_FORMATS.items():
            out += record(BRT_FMT, struct.pack("<H", code) + wide(text))
        out += record(BRT_END_FMTS)
    out += record(BRT_BEGIN_FONTS, struct.pack("<I", 1))
    # dyHeight (twips), grbit, bls (weight), sss, uls, bFamily, bCharSet, unused, color, bFontScheme, name
    font = struct.pack("<HHHHBBBB", 220, 0, 400, 0, 0, 2, 0, 0) + color_theme(1) + bytes([2]) + wide("Calibri")
    out += record(BRT_FONT, font)
    out += record(BRT_END_FONTS)
    out += record(BRT_BEGIN_FILLS, struct.pack("<I", 1))
    # fls (none), fore and back colors, gradient type, degree and four fill-to values, gradient stop count
    fill = struct.pack("<I", 0) + color_theme(0) * 2 + struct.pack("<I5dI", 0, 0, 0, 0, 0, 0, 0)
    out += record(BRT_FILL, fill)
    out += record(BRT_END_FILLS)
    out += record(BRT_BEGIN_BORDERS, struct.pack("<I", 1))
    out += record(BRT_BORDER, b"\x00" + (b"\x00\x00" + color_theme(0)) * 5)  # flags, top/bottom/left/right/diag
    out += record(BRT_END_BORDERS)
    out += record(BRT_BEGIN_CELL_STYLE_XFS, struct.pack("<I", 1))
    out += xf(0xFFFF, 0)
    out += record(BRT_END_CELL_STYLE_XFS)
    xfs = sorted(STYLES.values())
    out += record(BRT_BEGIN_CELL_XFS, struct.pack("<I", len(xfs)))
    for _, fmt in xfs:
        out += xf(0, fmt if custom_formats else BUILTIN_INSTEAD.get(fmt, fmt))
    out += record(BRT_END_CELL_XFS)
    out += record(BRT_BEGIN_STYLES, struct.pack("<I", 1))
    out += record(BRT_STYLE, struct.pack("<IHBB", 0, 1, 0, 0xFF) + wide("Normal"))  # built-in "Normal"
    out += record(BRT_END_STYLES)
    out += record(BRT_BEGIN_DXFS, struct.pack("<I", 0))
    out += record(BRT_END_DXFS)
    out += record(BRT_BEGIN_TABLE_STYLES, struct.pack("<I", 0) + wide("TableStyleMedium2") + wide("PivotStyleLight16"))
    out += record(BRT_END_TABLE_STYLES)
    out += record(BRT_END_STYLE_SHEET)
    return bytes(out)


STATES = {"visible": 0, "hidden": 1, "veryHidden": 2}


def workbook_part(sheets, date1904):
    out = bytearray(record(BRT_BEGIN_BOOK))
    out += record(BRT_WB_PROP, struct.pack("<II", 1 if date1904 else 0, 0) + wide(""))  # f1904, theme version
    out += record(BRT_BEGIN_BUNDLE_SHS)
    for i, (name, state, _) in enumerate(sheets, start=1):
        # hsState, iTabID, strRelID, strName
        out += record(BRT_BUNDLE_SH, struct.pack("<II", STATES[state], i) + wide(f"rId{i}") + wide(name))
    out += record(BRT_END_BUNDLE_SHS)
    # recalcID, fAutoRecalc, cCalcCount, xnumDelta, cUserThreads, flags (fFullPrec)
    out += record(BRT_CALC_PROP, struct.pack("<IIIdiH", 0, 1, 100, 0.001, 1, 0x0008))
    out += record(BRT_END_BOOK)
    return bytes(out)


REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


def rels(items):
    body = "".join(f'<Relationship Id="{i}" Type="{REL}/{t}" Target="{target}"/>' for i, t, target in items)
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    return f'{head}<Relationships xmlns="{PKG_REL}">{body}</Relationships>'


def content_types(n_sheets):
    ms = "application/vnd.ms-excel"
    overrides = [("/xl/workbook.bin", f"{ms}.sheet.binary.macroEnabled.main"), ("/xl/styles.bin", f"{ms}.styles"),
                 ("/xl/sharedStrings.bin", f"{ms}.sharedStrings")]
    overrides += [(f"/xl/worksheets/sheet{i}.bin", f"{ms}.worksheet") for i in range(1, n_sheets + 1)]
    body = (
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
    )
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">{body}</Types>')


def write_xlsb(out, sheets, date1904=False, cut_sheet=None, custom_formats=True):
    """sheets: [(name, state, {row: [values]})]. `cut_sheet` (a name) keeps only the first half of its stream;
    without `custom_formats` the styles use built-in number formats only."""
    strings, index = [], {}
    references = 0

    def sst_index(s):
        nonlocal references
        references += 1
        if s not in index:
            index[s] = len(strings)
            strings.append(s)
        return index[s]

    sheet_parts = [sheet_part(rows, sst_index, cut=0.5 if name == cut_sheet else None) for name, _, rows in sheets]
    n = len(sheets)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", content_types(n))
        z.writestr("_rels/.rels", rels([("rId1", "officeDocument", "xl/workbook.bin")]))
        z.writestr("xl/workbook.bin", workbook_part(sheets, date1904))
        wb_rels = [(f"rId{i}", "worksheet", f"worksheets/sheet{i}.bin") for i in range(1, n + 1)]
        wb_rels += [(f"rId{n + 1}", "styles", "styles.bin"), (f"rId{n + 2}", "sharedStrings", "sharedStrings.bin")]
        z.writestr("xl/_rels/workbook.bin.rels", rels(wb_rels))
        for i, data in enumerate(sheet_parts, start=1):
            z.writestr(f"xl/worksheets/sheet{i}.bin", data)
        z.writestr("xl/styles.bin", styles_part(custom_formats))
        z.writestr("xl/sharedStrings.bin", sst_part(strings, references))


# ---------------------------------------------------------------- workbooks


def serial(value):
    """An Excel serial number (1900 date system) for a date or datetime."""
    if isinstance(value, dt.datetime):
        delta = value - dt.datetime(1899, 12, 30)
    else:
        delta = dt.datetime.combine(value, dt.time()) - dt.datetime(1899, 12, 30)
    return delta.days + delta.seconds / 86400


def lab_sheets():
    """Lab: header with an empty cell and a repeated name; RK and real integers, floats (real, RK float, RK/100),
    shared strings, booleans, #DIV/0!, date and date-time cells, a blank row between data rows and formatted
    but empty trailing rows. Suppliers: plain. Lookup: hidden. Vault: very hidden."""
    dts = style("datetime")
    lab = {
        0: ["Sample", "Strength", "Passed", None, "Count", "Sample", "Tested at", "Due", "Ratio"],
        1: ["S-1", 38.2, True, "x", 7, "first", real(serial(dt.datetime(2026, 3, 2, 9, 15)), dts),
            real(serial(dt.date(2024, 2, 29)), style("iso_date")), 0.25],
        # row 3 (index 2) is blank: only styled blank cells
        2: [blank(style("fixed2")), None, blank(style("fixed2"))],
        3: ["S-2", real(36.9), False, None, real(1234567.0), "second",
            real(serial(dt.datetime(2026, 3, 2, 14, 0)), dts),
            real(serial(dt.date(2027, 11, 30)), style("date")), 12.34],
        4: ["S-3", err("#DIV/0!"), True, "z", 3_000_000_000, "third", real(serial(dt.datetime(2026, 3, 3, 7, 30)), dts),
            real(serial(dt.date(2029, 2, 28)), style("iso_date")), -1.5],
    }
    for r in range(5, 40):  # trailing rows with formatting only
        lab[r] = [blank(style("fixed2")), blank(style("date"))] if r % 2 else []
    suppliers = {0: ["ID", "Name"], 1: [1001, "Nordbeton"], 2: [1002, "Acier du Rhin"]}
    lookup = {0: ["Code"], 1: [7]}
    vault = {0: ["Key"], 1: ["k-1"]}
    return [("Lab", "visible", lab), ("Suppliers", "visible", suppliers), ("Lookup", "hidden", lookup),
            ("Vault", "veryHidden", vault)]


def rk_dates_sheets():
    """Whole-day dates with a date format in the RK forms MS-XLSB allows: the integer form (Due, and the custom
    format `dd\\.mm\\.yyyy` in Signed), the float form (Valid from), a date-time column with a real and an RK
    integer, RK integers in non-date formats (Amount: 0.00; Lag: the custom `0" d"`, whose d is quoted), serial 1
    (before Excel's 1900 leap-year bug) in both forms. Many: 300 rows mixing plain and date RK integers."""
    rows = {
        0: ["Due", "Tested at", "Valid from", "Amount", "Lag", "Signed"],
        1: [rk(int(serial(dt.date(2024, 2, 29))), style("iso_date")),
            real(serial(dt.datetime(2026, 3, 2, 9, 15)), style("datetime")),
            rk_float(serial(dt.date(2024, 2, 29)), style("iso_date")), rk(1234, style("fixed2")), rk(3, style("days")),
            rk(int(serial(dt.date(2023, 12, 24))), style("dotted_date"))],
        2: [rk(int(serial(dt.date(2025, 1, 31))), style("date")),
            rk(int(serial(dt.date(2026, 3, 3))), style("datetime")),
            rk_float(serial(dt.date(2025, 1, 31)), style("date")), rk(-7, style("fixed2")), rk(10, style("days")),
            rk(int(serial(dt.date(2025, 7, 1))), style("dotted_date"))],
        3: [rk(1, style("date")), None, rk_float(1, style("date")), rk(0, style("fixed2"))],
    }
    many = {0: ["N", "Day", "Label", "Half"]}
    for i in range(1, 301):
        many[i] = [i, rk(int(serial(dt.date(2024, 1, 1))) + i - 1, style("iso_date")), f"r{i}", i + 0.5]
    return [("Dates", "visible", rows), ("Many", "visible", many)]


def epoch1904_sheets():
    """The 1904 date system: the serial of 2024-02-29 is 1462 days smaller; as a real and as an RK integer."""
    day = serial(dt.date(2024, 2, 29)) - 1462
    return [("Dates", "visible", {0: ["Due", "Due whole"], 1: [real(day, style("iso_date")),
                                                               rk(int(day), style("iso_date"))]})]


def broken_sheets():
    """Lab intact, then a sheet whose record stream is cut in the middle of its rows."""
    broken = {0: ["ID", "Name"]}
    for i in range(1, 201):
        broken[i] = [i, f"row {i}"]
    return [("Lab", "visible", lab_sheets()[0][2]), ("Broken", "visible", broken)]


def bad_string_index_sheets():
    """Lab intact, then a sheet with a cell pointing past the end of the shared-string table."""
    bad = {0: ["Name"], 1: ["ok"], 2: [Cell("isst", 9999)]}
    return [("Lab", "visible", lab_sheets()[0][2]), ("Bad", "visible", bad)]


# kind -> (sheets, write options, sheets pyxlsb can check)
KINDS = {
    "lab": (lab_sheets, {}, None),
    "rk_dates": (rk_dates_sheets, {}, None),
    "epoch1904": (epoch1904_sheets, {"date1904": True}, None),
    "builtin_formats": (lab_sheets, {"custom_formats": False}, None),
    "broken_sheet": (broken_sheets, {"cut_sheet": "Broken"}, ["Lab"]),
    "bad_string_index": (bad_string_index_sheets, {}, ["Lab"]),
}


# ---------------------------------------------------------------- independent check with pyxlsb


def mismatches(path, sheets, only=None):
    """Differences between the workbook at path (read with pyxlsb) and what `sheets` says was written."""
    from pyxlsb import open_workbook

    found = []
    with open_workbook(str(path)) as wb:
        if wb.sheets != [name for name, _, _ in sheets]:
            found.append(f"sheet names {wb.sheets} != {[n for n, _, _ in sheets]}")
            return found
        for name, _, rows in sheets:
            if only is not None and name not in only:
                continue
            want = {}
            for r, vals in rows.items():
                for c, v in enumerate(vals):
                    if v is not None:
                        want[(r, c)] = cell(v).expected()
            got = {}
            with wb.get_sheet(name) as ws:
                for row in ws.rows(sparse=True):
                    for c in row:
                        if c.v is not None or (c.r, c.c) in want:
                            got[(c.r, c.c)] = c.v
            for key in sorted(set(want) | set(got)):
                w, g = want.get(key, "<no cell>"), got.get(key, "<no cell>")
                same = w == g or (isinstance(w, float) and isinstance(g, float) and math.isclose(w, g, rel_tol=1e-15))
                if not same:
                    found.append(f"sheet {name!r} row {key[0]} col {key[1]}: wrote {w!r}, pyxlsb read {g!r}")
    return found


def verify(kind, out):
    sheets, _, only = KINDS[kind]
    problems = mismatches(out, sheets(), only)
    if problems:
        sys.exit("pyxlsb reads different values than were written:\n" + "\n".join(problems))


def self_test(out):
    """The check must notice a difference: expect a changed number, a changed string and a missing sheet."""
    sheets = lab_sheets()
    write_xlsb(out, sheets)
    assert not mismatches(out, sheets), mismatches(out, sheets)
    wrong = lab_sheets()
    wrong[0][2][1][1] = 38.3
    wrong[1][2][2][1] = "Acier du Main"
    found = mismatches(out, wrong)
    assert len(found) == 2 and "38.3" in found[0] and "Acier du Main" in found[1], found
    assert mismatches(out, wrong[:3]), "a missing sheet is noticed"
    print("ok")


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    if kind == "self_test":
        self_test(out)
        sys.exit(0)
    sheets, options, _ = KINDS[kind]
    write_xlsb(out, sheets(), **options)
    if "--verify" in sys.argv[3:]:
        verify(kind, out)
