//! Whole-day dates in .xlsb files. Excel stores whole numbers as RK integers (MS-XLSB 2.5.122 RkNumber with
//! fInt set, fX100 clear); calamine 0.31 returns those as integers without looking at the cell's number format,
//! so a date like 45351 formatted `yyyy-mm-dd` would read as 45351. This module knows, per cell XF, whether its
//! number format is a date (from `xl/styles.bin`), and walks the sheet's record stream next to calamine's to
//! learn each RK-integer cell's XF. Memory stays constant: one forward reader per sheet, no per-cell state.
//!
//! Format facts are from MS-XLSB (records BrtFmt, BrtXF, BrtBundleSh, BrtWbProp, BrtRowHdr, BrtCellRk); which
//! number formats count as dates follows calamine's own rule so both RK forms give the same value.

use calamine::{DataRef, ExcelDateTime, ExcelDateTimeType};
use std::collections::HashMap;
use std::io::{BufReader, Read, Seek};

const BRT_ROW_HDR: u16 = 0x0000;
const BRT_CELL_RK: u16 = 0x0002;
const BRT_FMT: u16 = 0x002C;
const BRT_XF: u16 = 0x002F;
const BRT_END_SHEET_DATA: u16 = 0x0092;
const BRT_WB_PROP: u16 = 0x0099;
const BRT_BUNDLE_SH: u16 = 0x009C;
const BRT_END_BUNDLE_SHS: u16 = 0x0090;
const BRT_BEGIN_CELL_XFS: u16 = 0x0269;
const BRT_END_CELL_XFS: u16 = 0x026A;

/// The date kind of a number format, as calamine decides it: a date/time, an elapsed time, or no date.
pub fn number_format_date_kind(id: u16, custom: Option<&str>) -> Option<ExcelDateTimeType> {
    match id {
        14..=22 | 45 | 47 => Some(ExcelDateTimeType::DateTime),
        46 => Some(ExcelDateTimeType::TimeDelta),
        _ => custom.and_then(custom_format_date_kind),
    }
}

/// A custom format string is a date when its first section has a date/time letter (d m y h s) outside quoted
/// text, `[...]` and escaped characters, and an elapsed time when it starts with `[h]`, `[mm]`, `[ss]` and the like.
/// After an `a` (AM/PM), `p`, `m` or `/` also mark a time.
pub fn custom_format_date_kind(format: &str) -> Option<ExcelDateTimeType> {
    let mut skip_next = false;
    let mut in_quotes = false;
    let mut depth = 0u8;
    let mut seen_am_pm = false;
    let mut previous = ' ';
    // Whether the current bracket holds only one repeated h/m/s letter so far (an elapsed-time field).
    let mut elapsed = false;
    for ch in format.chars() {
        if skip_next {
            skip_next = false;
        } else if in_quotes {
            in_quotes = ch != '"';
        } else {
            match ch {
                '_' | '\\' => skip_next = true,
                '"' => in_quotes = true,
                ';' => return None,
                '[' => depth = depth.saturating_add(1),
                ']' if depth == 1 && elapsed => return Some(ExcelDateTimeType::TimeDelta),
                ']' => depth = depth.saturating_sub(1),
                _ if depth == 0 && !seen_am_pm && matches!(ch, 'a' | 'A') => seen_am_pm = true,
                _ if depth == 0 && seen_am_pm && matches!(ch.to_ascii_lowercase(), 'p' | 'm' | '/') => {
                    return Some(ExcelDateTimeType::DateTime)
                }
                _ if depth == 0 && !seen_am_pm && matches!(ch.to_ascii_lowercase(), 'd' | 'm' | 'h' | 'y' | 's') => {
                    return Some(ExcelDateTimeType::DateTime)
                }
                _ => {
                    let repeats = elapsed && ch.eq_ignore_ascii_case(&previous);
                    if !repeats {
                        elapsed = previous == '[' && matches!(ch.to_ascii_lowercase(), 'h' | 'm' | 's');
                    }
                }
            }
        }
        previous = ch;
    }
    None
}

/// What is known about an .xlsb workbook to date its RK-integer cells.
pub struct XlsbDates {
    /// Per cell XF index: the date kind of its number format.
    xf_kinds: Vec<Option<ExcelDateTimeType>>,
    is_1904: bool,
    /// Sheet name -> path of its part in the zip.
    sheet_paths: HashMap<String, String>,
}

impl XlsbDates {
    /// Read styles, workbook properties and sheet paths. `Ok(None)` when no cell format is a date (nothing to do).
    pub fn load<R: Read + Seek>(archive: &mut zip::ZipArchive<R>) -> Result<Option<XlsbDates>, String> {
        let xf_kinds = match find_part(archive, "xl/styles.bin") {
            Some(path) => read_styles(archive.by_name(&path).map_err(|e| format!("xl/styles.bin: {e}"))?)?,
            None => Vec::new(),
        };
        if xf_kinds.iter().all(Option::is_none) {
            return Ok(None);
        }
        let relationships = match find_part(archive, "xl/_rels/workbook.bin.rels") {
            Some(path) => read_relationships(archive.by_name(&path).map_err(|e| format!("workbook rels: {e}"))?)?,
            None => HashMap::new(),
        };
        let workbook = find_part(archive, "xl/workbook.bin").ok_or("xl/workbook.bin is missing")?;
        let (is_1904, sheets) =
            read_workbook(archive.by_name(&workbook).map_err(|e| format!("xl/workbook.bin: {e}"))?)?;
        let sheet_paths = sheets
            .into_iter()
            .filter_map(|(name, rel_id)| {
                let target = relationships.get(&rel_id)?;
                let path = match target.strip_prefix('/') {
                    Some(absolute) => absolute.to_string(),
                    None => format!("xl/{target}"),
                };
                Some((name, path))
            })
            .collect();
        Ok(Some(XlsbDates { xf_kinds, is_1904, sheet_paths }))
    }

    /// A reader over `sheet`'s record stream, or an error saying why the sheet's dates cannot be fixed.
    pub fn sheet_styles<'a, R: Read + Seek>(
        &self,
        archive: &'a mut zip::ZipArchive<R>,
        sheet: &str,
    ) -> Result<RkIntStyles<zip::read::ZipFile<'a, R>>, String> {
        let path = self.sheet_paths.get(sheet).ok_or_else(|| format!("no part for sheet {sheet:?}"))?;
        let path = find_part(archive, path).ok_or_else(|| format!("{path} is missing"))?;
        let part = archive.by_name(&path).map_err(|e| format!("{path}: {e}"))?;
        Ok(RkIntStyles { records: Records::new(part, CELL_HEAD), row: 0 })
    }

    /// The date calamine gives a float-form RK cell with the same value and XF, when the XF is a date format.
    pub fn as_date(&self, value: i64, xf: u32) -> Option<DataRef<'static>> {
        let kind = *self.xf_kinds.get(xf as usize)?;
        Some(DataRef::DateTime(ExcelDateTime::new(value as f64, kind?, self.is_1904)))
    }
}

/// The zip entry for a part name, matched like Excel does: case-insensitively, `\` as `/`.
fn find_part<R: Read + Seek>(archive: &zip::ZipArchive<R>, name: &str) -> Option<String> {
    if archive.index_for_name(name).is_some() {
        return Some(name.to_string());
    }
    let wanted = name.replace('\\', "/");
    archive.file_names().find(|n| n.replace('\\', "/").eq_ignore_ascii_case(&wanted)).map(str::to_string)
}

/// Cell records: column, XF and the RK number are in the first 12 bytes.
const CELL_HEAD: u64 = 16;
/// Styles and workbook records hold strings; larger records there are never ones read here.
const SMALL_PART_RECORD: u64 = 1 << 16;

/// Forward reader of BIFF12 records (a 1-2 byte type, a 1-4 byte size, the body): the first `max_kept` bytes of
/// each body are kept, the rest is skipped, so a bogus size cannot make it allocate.
struct Records<R: Read> {
    input: BufReader<R>,
    body: Vec<u8>,
    max_kept: u64,
}

impl<R: Read> Records<R> {
    fn new(input: R, max_kept: u64) -> Self {
        Records { input: BufReader::new(input), body: Vec::new(), max_kept }
    }

    fn byte(&mut self) -> Result<Option<u8>, String> {
        let mut b = [0u8];
        match self.input.read(&mut b).map_err(|e| format!("record stream: {e}"))? {
            0 => Ok(None),
            _ => Ok(Some(b[0])),
        }
    }

    /// The next record's type (its kept body in `body`), `None` at the end of the part.
    fn next(&mut self) -> Result<Option<u16>, String> {
        let Some(first) = self.byte()? else { return Ok(None) };
        let mut record_type = u16::from(first & 0x7F);
        if first & 0x80 != 0 {
            record_type |= u16::from(self.byte()?.ok_or("record type cut off")? & 0x7F) << 7;
        }
        let mut size = 0u64;
        for i in 0..4 {
            let b = self.byte()?.ok_or("record size cut off")?;
            size |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        let kept = size.min(self.max_kept);
        self.body.clear();
        let read =
            (&mut self.input).take(kept).read_to_end(&mut self.body).map_err(|e| format!("record stream: {e}"))?;
        let skipped = std::io::copy(&mut (&mut self.input).take(size - kept), &mut std::io::sink())
            .map_err(|e| format!("record stream: {e}"))?;
        if read as u64 != kept || skipped != size - kept {
            return Err("record cut off".into());
        }
        Ok(Some(record_type))
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(self.body.get(at..at + 4)?.try_into().ok()?))
    }
}

/// A UTF-16 string (XLWideString: a u32 character count, then the characters) at the start of `bytes`, with the
/// bytes after it. `None` for a null XLNullableWideString (count 0xFFFFFFFF) or a cut-off string.
fn wide_string(bytes: &[u8]) -> Option<(String, &[u8])> {
    let count = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    if count == u32::MAX {
        return None;
    }
    let end = 4usize.checked_add((count as usize).checked_mul(2)?)?;
    let units: Vec<u16> = bytes.get(4..end)?.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    Some((String::from_utf16_lossy(&units), &bytes[end..]))
}

/// The date kind of each cell XF (cellXfs, in order), from the number formats (BrtFmt) and XFs (BrtXF).
fn read_styles<R: Read>(part: R) -> Result<Vec<Option<ExcelDateTimeType>>, String> {
    let mut records = Records::new(part, SMALL_PART_RECORD);
    let mut custom: HashMap<u16, String> = HashMap::new();
    let mut kinds = Vec::new();
    let mut in_cell_xfs = false;
    while let Some(record_type) = records.next().map_err(|e| format!("xl/styles.bin: {e}"))? {
        let body = &records.body;
        match record_type {
            BRT_FMT => {
                let id = body.get(..2).ok_or("xl/styles.bin: number format record too short")?;
                let (text, _) = wide_string(&body[2..]).ok_or("xl/styles.bin: number format text cut off")?;
                custom.insert(u16::from_le_bytes([id[0], id[1]]), text);
            }
            BRT_BEGIN_CELL_XFS => in_cell_xfs = true,
            BRT_END_CELL_XFS => break,
            BRT_XF if in_cell_xfs => {
                let id = body.get(2..4).ok_or("xl/styles.bin: cell format record too short")?;
                let id = u16::from_le_bytes([id[0], id[1]]);
                kinds.push(number_format_date_kind(id, custom.get(&id).map(String::as_str)));
            }
            _ => {}
        }
    }
    Ok(kinds)
}

/// The 1904 flag (BrtWbProp) and each sheet's name with its relationship id (BrtBundleSh), in workbook order.
fn read_workbook<R: Read>(part: R) -> Result<(bool, Vec<(String, String)>), String> {
    let mut records = Records::new(part, SMALL_PART_RECORD);
    let mut is_1904 = false;
    let mut sheets = Vec::new();
    while let Some(record_type) = records.next().map_err(|e| format!("xl/workbook.bin: {e}"))? {
        let body = &records.body;
        match record_type {
            BRT_WB_PROP => is_1904 = body.first().is_some_and(|flags| flags & 1 != 0),
            BRT_BUNDLE_SH => {
                // hsState (4 bytes), iTabID (4 bytes), strRelID (nullable), strName.
                let rest = body.get(8..).ok_or("xl/workbook.bin: sheet record too short")?;
                // A null relationship id (a sheet without a part) is 4 bytes; its name follows.
                let (rel_id, rest) = match wide_string(rest) {
                    Some((id, rest)) => (Some(id), rest),
                    None => (None, rest.get(4..).ok_or("xl/workbook.bin: sheet record too short")?),
                };
                let (name, _) = wide_string(rest).ok_or("xl/workbook.bin: sheet name cut off")?;
                if let Some(rel_id) = rel_id {
                    sheets.push((name, rel_id));
                }
            }
            BRT_END_BUNDLE_SHS => break,
            _ => {}
        }
    }
    Ok((is_1904, sheets))
}

/// Relationship id -> target from `xl/_rels/workbook.bin.rels`.
fn read_relationships<R: Read>(part: R) -> Result<HashMap<String, String>, String> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(BufReader::new(part));
    let mut buf = Vec::new();
    let mut out = HashMap::new();
    loop {
        match xml.read_event_into(&mut buf).map_err(|e| format!("workbook rels: {e}"))? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Relationship" => {
                let mut id = None;
                let mut target = None;
                for attribute in e.attributes().flatten() {
                    let value = attribute
                        .decode_and_unescape_value(xml.decoder())
                        .map_err(|e| format!("workbook rels: {e}"))?
                        .into_owned();
                    match attribute.key.local_name().as_ref() {
                        b"Id" => id = Some(value),
                        b"Target" => target = Some(value),
                        _ => {}
                    }
                }
                if let (Some(id), Some(target)) = (id, target) {
                    out.insert(id, target);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Walks a sheet's records alongside calamine's cell reader, yielding the XF of each RK-integer cell.
pub struct RkIntStyles<R: Read> {
    records: Records<R>,
    row: u32,
}

impl<R: Read> RkIntStyles<R> {
    /// The XF index of the RK-integer cell calamine just returned at (`row`, `column`). calamine returns exactly
    /// the RK-integer records as integers, in stream order, so the next such record must be at that position.
    pub fn next_rk_int_xf(&mut self, row: u32, column: u32) -> Result<u32, String> {
        loop {
            match self.records.next()? {
                None | Some(BRT_END_SHEET_DATA) => return Err("the sheet's records ended early".into()),
                Some(BRT_ROW_HDR) => self.row = self.records.u32_at(0).ok_or("row header too short")?,
                Some(BRT_CELL_RK) => {
                    let rk = self.records.u32_at(8).ok_or("RK cell too short")?;
                    if rk & 0b11 != 0b10 {
                        continue; // a float or /100 form: calamine applies the format itself
                    }
                    let at = (self.row, self.records.u32_at(0).ok_or("RK cell too short")?);
                    if at != (row, column) {
                        return Err(format!("out of step with calamine at row {} column {}", at.0, at.1));
                    }
                    return Ok(self.records.u32_at(4).ok_or("RK cell too short")? & 0x00FF_FFFF);
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(format: &str) -> Option<ExcelDateTimeType> {
        custom_format_date_kind(format)
    }

    #[test]
    fn custom_formats_are_dates_like_calamine_decides() {
        for date in ["yyyy-mm-dd", "d/m/yy", "[$-409]d-mmm-yy", "hh:mm:ss", "m/d/yyyy h:mm AM/PM", "[Red]yyyy"] {
            assert_eq!(kind(date), Some(ExcelDateTimeType::DateTime), "{date}");
        }
        for elapsed in ["[h]:mm:ss", "[mm]:ss", "[ss].0"] {
            assert_eq!(kind(elapsed), Some(ExcelDateTimeType::TimeDelta), "{elapsed}");
        }
        for other in ["0.00", "General", "#,##0", "\"days\" 0", "0\\d", "0_m", "[Red]0.0", "0;[Red]-0;\"d\"", "@"] {
            assert_eq!(kind(other), None, "{other}");
        }
    }

    #[test]
    fn built_in_ids_follow_calamine() {
        assert_eq!(number_format_date_kind(14, None), Some(ExcelDateTimeType::DateTime));
        assert_eq!(number_format_date_kind(22, None), Some(ExcelDateTimeType::DateTime));
        assert_eq!(number_format_date_kind(46, None), Some(ExcelDateTimeType::TimeDelta));
        assert_eq!(number_format_date_kind(2, None), None);
        assert_eq!(number_format_date_kind(165, Some("yyyy-mm-dd")), Some(ExcelDateTimeType::DateTime));
        assert_eq!(number_format_date_kind(166, None), None);
    }

    fn record(record_type: u16, body: &[u8]) -> Vec<u8> {
        let mut out = if record_type < 0x80 {
            vec![record_type as u8]
        } else {
            vec![(record_type & 0x7F) as u8 | 0x80, (record_type >> 7) as u8]
        };
        let mut size = body.len();
        loop {
            let more = size >= 0x80;
            out.push((size & 0x7F) as u8 | if more { 0x80 } else { 0 });
            size >>= 7;
            if !more {
                break;
            }
        }
        out.extend_from_slice(body);
        out
    }

    fn wide(text: &str) -> Vec<u8> {
        let units: Vec<u16> = text.encode_utf16().collect();
        let mut out = (units.len() as u32).to_le_bytes().to_vec();
        units.iter().for_each(|u| out.extend_from_slice(&u.to_le_bytes()));
        out
    }

    fn rk_int(column: u32, xf: u32, value: i32) -> Vec<u8> {
        let mut body = column.to_le_bytes().to_vec();
        body.extend_from_slice(&xf.to_le_bytes());
        body.extend_from_slice(&(((value << 2) | 0b10) as u32).to_le_bytes());
        record(BRT_CELL_RK, &body)
    }

    /// A workbook zip: XF 0 is a built-in date, XF 1 `0.00`, XF 2 a custom date; 1904 dates; the sheet part's
    /// name differs in case from its relationship target.
    fn workbook(sheet: &[u8]) -> zip::ZipArchive<std::io::Cursor<Vec<u8>>> {
        let mut styles = record(BRT_FMT, &[&170u16.to_le_bytes()[..], &wide("dd/mm/yyyy")].concat());
        styles.extend(record(BRT_BEGIN_CELL_XFS, &3u32.to_le_bytes()));
        for id in [14u16, 2, 170] {
            styles.extend(record(BRT_XF, &[&0u16.to_le_bytes()[..], &id.to_le_bytes(), &[0; 12]].concat()));
        }
        styles.extend(record(BRT_END_CELL_XFS, &[]));
        let mut book = record(BRT_WB_PROP, &[1, 0, 0, 0]);
        book.extend(record(BRT_BUNDLE_SH, &[&[0u8; 8][..], &wide("rId7"), &wide("Dates")].concat()));
        book.extend(record(BRT_END_BUNDLE_SHS, &[]));
        let rels = r#"<?xml version="1.0"?><Relationships xmlns="x"><Relationship Id="rId7" Type="t" Target="worksheets/sheet1.bin"/></Relationships>"#;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for (name, bytes) in [
            ("xl/styles.bin", styles),
            ("xl/workbook.bin", book),
            ("xl/_rels/workbook.bin.rels", rels.as_bytes().to_vec()),
            ("xl/worksheets/Sheet1.bin", sheet.to_vec()),
        ] {
            writer.start_file(name, options).unwrap();
            std::io::Write::write_all(&mut writer, &bytes).unwrap();
        }
        zip::ZipArchive::new(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn rk_integer_cells_get_their_format_in_step_with_calamine() {
        let mut sheet = record(BRT_ROW_HDR, &3u32.to_le_bytes());
        sheet.extend(rk_int(2, 0, 43889)); // 2024-02-29 in the 1904 system
        sheet.extend(record(BRT_CELL_RK, &[&4u32.to_le_bytes()[..], &[0; 4], &0x4000_0000u32.to_le_bytes()].concat()));
        sheet.extend(rk_int(5, 1, 7));
        sheet.extend(record(BRT_ROW_HDR, &4u32.to_le_bytes()));
        sheet.extend(rk_int(0, 2, 43889));
        sheet.extend(record(BRT_END_SHEET_DATA, &[]));
        let mut archive = workbook(&sheet);
        let dates = XlsbDates::load(&mut archive).unwrap().expect("date formats found");
        let mut styles = dates.sheet_styles(&mut archive, "Dates").unwrap();
        // The float-form RK at column 4 is skipped: calamine dates it itself.
        assert_eq!(styles.next_rk_int_xf(3, 2), Ok(0));
        assert_eq!(styles.next_rk_int_xf(3, 5), Ok(1));
        assert_eq!(styles.next_rk_int_xf(4, 0), Ok(2));
        assert!(styles.next_rk_int_xf(4, 1).unwrap_err().contains("ended early"));
        let date = |xf| match dates.as_date(43889, xf) {
            Some(DataRef::DateTime(d)) => d.as_datetime().map(|d| d.date().to_string()),
            _ => None,
        };
        assert_eq!(
            (date(0), date(1), date(2), date(9)),
            (Some("2024-02-29".into()), None, Some("2024-02-29".into()), None)
        );
        drop(styles);
        assert!(dates.sheet_styles(&mut archive, "Other").is_err());
    }

    #[test]
    fn out_of_step_is_an_error() {
        let mut sheet = record(BRT_ROW_HDR, &3u32.to_le_bytes());
        sheet.extend(rk_int(2, 0, 1));
        let mut archive = workbook(&sheet);
        let dates = XlsbDates::load(&mut archive).unwrap().unwrap();
        let mut styles = dates.sheet_styles(&mut archive, "Dates").unwrap();
        assert!(styles.next_rk_int_xf(3, 1).unwrap_err().contains("out of step"));
    }

    #[test]
    fn cut_or_short_records_are_errors_not_panics() {
        // An RK record of 4 bytes (too short), then a cut-off record.
        let stream: Vec<u8> = vec![0x00, 0x04, 0, 0, 0, 0, 0x02, 0x04, 1, 2, 3, 4, 0x02, 0x0C, 1];
        let mut styles = RkIntStyles { records: Records::new(&stream[..], 16), row: 0 };
        assert!(styles.next_rk_int_xf(0, 0).unwrap_err().contains("too short"));
        assert!(styles.next_rk_int_xf(0, 0).unwrap_err().contains("cut off"));
        assert!(read_styles(&[0x2C, 0x01, 0x00][..]).is_err());
        assert!(read_workbook(&[0x9C, 0x01, 0x03, 0x00][..]).is_err());
    }
}
