"""Anchor for source-xlsx: python-calamine reads every sheet and json.dumps each row as an Airbyte RECORD line.

Usage: calamine_anchor.py BOOK.xlsx > /dev/null   (needs python-calamine; the way a simple Python source works)
"""
import datetime as dt
import json
import sys
import time

from python_calamine import CalamineWorkbook


def plain(v):
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if v == "":
        return None
    return v


def main(path):
    out = sys.stdout
    wb = CalamineWorkbook.from_path(path)
    for sheet in wb.sheet_names:
        rows = iter(wb.get_sheet_by_name(sheet).to_python())
        header = [str(h) for h in next(rows, [])]
        for n, row in enumerate(rows, start=2):
            data = {h: plain(v) for h, v in zip(header, row)}
            data["_ab_sheet_name"] = sheet
            data["_ab_row_number"] = n
            msg = {"type": "RECORD", "record": {"stream": sheet, "data": data, "emitted_at": int(time.time() * 1000)}}
            out.write(json.dumps(msg))
            out.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
