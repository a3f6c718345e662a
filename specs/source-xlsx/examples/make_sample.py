"""Writes sample.xlsx: a small, realistic multi-sheet workbook for source-xlsx's example config.

Run from the repository root: .venv/tools/bin/python specs/source-xlsx/examples/make_sample.py
Values are illustrative (typical orders of magnitude for EPD indicators), not from a real EPD.
"""
import datetime as dt
import sys
from pathlib import Path

from openpyxl import Workbook

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("sample.xlsx")
wb = Workbook()

materials = wb.active
materials.title = "EPD Materials"
materials.append(["Material", "Category", "Declared unit", "Density (kg/m3)", "GWP A1-A3 (kg CO2e)",
                  "Recycled content (%)", "Valid until", "Verified"])
rows = [
    ("Ready-mix concrete C30/37", "Concrete", "m3", 2400, 245.3, 12, dt.date(2028, 5, 31), True),
    ("Reinforcing steel B500B", "Metals", "t", 7850, 735.0, 95, dt.date(2027, 11, 30), True),
    ("Glulam GL24h", "Timber", "m3", 470, -655.2, 0, dt.date(2029, 2, 28), True),
    ("Mineral wool slab", "Insulation", "m3", 140, 162.4, 30, dt.date(2026, 12, 31), False),
    ("Clay brick, solid", "Masonry", "t", 1800, 241.0, 5, None, False),
    ("Float glass 6 mm", "Glass", "m2", 2500, 22.8, 20, dt.date(2028, 8, 15), True),
    ("Gypsum plasterboard 12.5 mm", "Boards", "m2", 680, 2.67, 8, dt.date(2027, 3, 1), True),
    ("EPS insulation 035", "Insulation", "m3", 15, 98.1, None, dt.date(2026, 6, 30), False),
]
for r in rows:
    materials.append(list(r))
for row in materials.iter_rows(min_row=2, min_col=7, max_col=7):
    for c in row:
        c.number_format = "yyyy-mm-dd"

suppliers = wb.create_sheet("Suppliers")
suppliers.append(["Supplier ID", "Name", "Country", "Contact e-mail", "Certified since", "Rating"])
for r in [
    (1001, "Nordbeton GmbH", "DE", "einkauf@nordbeton.example", dt.date(2015, 4, 1), 4.5),
    (1002, "Acier du Rhin SA", "FR", "sales@acier-rhin.example", dt.date(2011, 9, 15), 4.0),
    (1003, "Holzbau Alpin AG", "AT", "info@holzbau-alpin.example", None, 4.8),
    (1004, "Isover Nord", "DK", "orders@isonord.example", dt.date(2019, 1, 10), 3.9),
    (1005, "Vitrum Float BV", "NL", None, dt.date(2020, 6, 30), None),
]:
    suppliers.append(list(r))
for row in suppliers.iter_rows(min_row=2, min_col=5, max_col=5):
    for c in row:
        c.number_format = "yyyy-mm-dd"

lab = wb.create_sheet("Lab Results")
lab.append(["Sample", "Material", "Tested at", "Compressive strength (MPa)", "Moisture (%)", "Passed", "Notes"])
for r in [
    ("S-2026-001", "Ready-mix concrete C30/37", dt.datetime(2026, 3, 2, 9, 15), 38.2, 4.1, True, None),
    ("S-2026-002", "Ready-mix concrete C30/37", dt.datetime(2026, 3, 2, 9, 40), 36.9, 4.3, True, None),
    ("S-2026-003", "Clay brick, solid", dt.datetime(2026, 3, 3, 14, 5), 22.5, 1.2, True, "re-test after drying"),
    ("S-2026-004", "Glulam GL24h", dt.datetime(2026, 3, 4, 11, 0), None, 11.8, False, "moisture above 10 %"),
    ("S-2026-005", "Mineral wool slab", dt.datetime(2026, 3, 5, 16, 30), 0.04, 0.6, True, None),
    ("S-2026-006", "Ready-mix concrete C30/37", dt.datetime(2026, 3, 9, 8, 50), 31.7, 4.8, False, "below class"),
]:
    lab.append(list(r))
for row in lab.iter_rows(min_row=2, min_col=3, max_col=3):
    for c in row:
        c.number_format = "yyyy-mm-dd hh:mm"

wb.save(out)
print(f"wrote {out}")
