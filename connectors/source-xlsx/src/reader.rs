//! Finding the workbooks (local paths and globs, http(s) URLs, s3:// URLs and globs), fetching them, opening
//! them with calamine and streaming a sheet's cells without loading the sheet.

use crate::config::{S3Config, XlsxConfig};
use crate::xlsb_dates::{RkIntStyles, XlsbDates};
use airbyte_protocol::http::{loggable_url, HttpClient, HttpError, RetryPolicy};
use airbyte_protocol::{ConnectorError, Result};
use bytes::Bytes;
use calamine::{DataRef, Reader, Sheet, SheetType, SheetVisible};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where a workbook lives.
#[derive(Clone, Debug)]
pub enum Location {
    Local(PathBuf),
    Http(url::Url),
    S3 { bucket: String, key: String },
}

/// The version of a file seen now: what incremental reads compare with the saved state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileVersion {
    pub last_modified: Option<DateTime<Utc>>,
    pub size: Option<u64>,
    pub etag: Option<String>,
}

impl FileVersion {
    /// `last_modified` as written in records and state (RFC 3339, UTC, microseconds).
    pub fn last_modified_text(&self) -> Option<String> {
        self.last_modified.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

/// One workbook to read.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in records (`_ab_source_file`), errors and state: never carries a query string or password.
    pub display: String,
    pub location: Location,
    pub version: FileVersion,
}

impl SourceFile {
    /// The file name without directories and extension, used in stream names.
    pub fn stem(&self) -> String {
        let last = self.display.rsplit(['/', '\\']).next().unwrap_or(&self.display);
        let last = last.split(['?', '#']).next().unwrap_or(last);
        match last.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem.to_string(),
            _ => last.to_string(),
        }
    }
    fn extension(&self) -> String {
        let last = self.display.rsplit(['/', '\\']).next().unwrap_or(&self.display);
        last.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
    }
}

/// A location as safe to print: URLs lose query strings and passwords.
pub fn display_location(raw: &str) -> String {
    if raw.starts_with("http://") || raw.starts_with("https://") {
        if let Ok(u) = url::Url::parse(raw) {
            return loggable_url(&u);
        }
    }
    raw.to_string()
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Resolves configured file entries into files, and fetches their bytes.
pub struct FileAccess {
    s3: Option<S3Config>,
    s3_stores: std::sync::Mutex<std::collections::HashMap<String, Arc<AmazonS3>>>,
    http: HttpClient,
}

/// A fetched workbook: a local path (read as a stream from disk) or bytes held in memory (remote files).
#[derive(Clone)]
pub enum FileData {
    Local(PathBuf),
    Memory(Bytes),
}

impl FileAccess {
    pub fn new(config: &XlsxConfig) -> Result<Self> {
        let policy = RetryPolicy { max_retries: 4, ..RetryPolicy::default() };
        let http =
            HttpClient::new(concat!("source-xlsx/", env!("CARGO_PKG_VERSION")), Duration::from_secs(300), policy)?;
        Ok(FileAccess { s3: config.s3.clone(), s3_stores: Default::default(), http })
    }

    /// Every file the config names, in config order (globs sorted), with its current version.
    pub async fn resolve(&self, entries: &[String]) -> Result<Vec<SourceFile>> {
        let mut out: Vec<SourceFile> = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            let found = if entry.starts_with("http://") || entry.starts_with("https://") {
                vec![self.resolve_http(entry).await?]
            } else if let Some(rest) = entry.strip_prefix("s3://") {
                self.resolve_s3(rest).await?
            } else {
                resolve_local(entry)?
            };
            for f in found {
                if !out.iter().any(|o| o.display == f.display) {
                    out.push(f);
                }
            }
        }
        Ok(out)
    }

    async fn resolve_http(&self, raw: &str) -> Result<SourceFile> {
        let url = url::Url::parse(raw)
            .map_err(|e| ConnectorError::config(format!("file URL {} is not valid: {e}", display_location(raw))))?;
        let display = loggable_url(&url);
        // HEAD gives the version without downloading; servers that refuse HEAD are downloaded on read.
        let version = match self.http.send(&[], |c| c.head(url.clone())).await {
            Ok(resp) => version_from_headers(&resp.headers, None),
            // Presigned URLs sign the method, so HEAD may be refused (403) where GET works.
            Err(HttpError::Status { status: 405 | 501 | 403, .. }) => FileVersion::default(),
            Err(e) => return Err(http_error(e, &display)),
        };
        Ok(SourceFile { display, location: Location::Http(url), version })
    }

    fn s3_store(&self, bucket: &str) -> Result<Arc<AmazonS3>> {
        let mut stores = self.s3_stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = stores.get(bucket) {
            return Ok(s.clone());
        }
        let cfg = self.s3.clone().unwrap_or_default();
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        b = b.with_region(cfg.region.as_deref().filter(|r| !r.is_empty()).unwrap_or("us-east-1"));
        if let Some(endpoint) = cfg.endpoint.as_deref().filter(|e| !e.is_empty()) {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(k) = cfg.access_key_id.as_deref().filter(|k| !k.is_empty()) {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = cfg.secret_access_key.as_deref().filter(|k| !k.is_empty()) {
            b = b.with_secret_access_key(k);
        }
        if let Some(k) = cfg.session_token.as_deref().filter(|k| !k.is_empty()) {
            b = b.with_token(k);
        }
        let store = Arc::new(
            b.build()
                .map_err(|e| ConnectorError::config(format!("cannot set up S3 access to bucket {bucket}: {e}")))?,
        );
        stores.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    async fn resolve_s3(&self, rest: &str) -> Result<Vec<SourceFile>> {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || key.is_empty() {
            return Err(ConnectorError::config(format!(
                "s3://{rest} must name a bucket and a key: s3://bucket/path/file.xlsx"
            )));
        }
        let store = self.s3_store(bucket)?;
        let make = |key: &str, meta: &object_store::ObjectMeta| SourceFile {
            display: format!("s3://{bucket}/{key}"),
            location: Location::S3 { bucket: bucket.to_string(), key: key.to_string() },
            version: FileVersion {
                last_modified: Some(meta.last_modified),
                size: Some(meta.size),
                etag: meta.e_tag.clone(),
            },
        };
        if !has_glob(key) {
            let meta = store.head(&ObjectPath::from(key)).await.map_err(|e| s3_error(e, &format!("s3://{rest}")))?;
            return Ok(vec![make(key, &meta)]);
        }
        let pattern = glob::Pattern::new(key)
            .map_err(|e| ConnectorError::config(format!("s3://{rest} is not a valid glob: {e}")))?;
        let fixed = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
        let prefix = fixed.rsplit_once('/').map(|(p, _)| p);
        let listed: Vec<object_store::ObjectMeta> = store
            .list(prefix.map(ObjectPath::from).as_ref())
            .try_collect()
            .await
            .map_err(|e| s3_error(e, &format!("s3://{rest}")))?;
        let options = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
        let mut found: Vec<SourceFile> = listed
            .iter()
            .filter(|m| pattern.matches_with(m.location.as_ref(), options))
            .map(|m| make(m.location.as_ref(), m))
            .collect();
        found.sort_by(|a, b| a.display.cmp(&b.display));
        if found.is_empty() {
            return Err(ConnectorError::config(format!("no files match s3://{rest}")));
        }
        Ok(found)
    }

    /// The workbook's bytes (remote) or path (local). A remote file's version is refreshed from the download.
    pub async fn fetch(&self, file: &mut SourceFile) -> Result<FileData> {
        match &file.location {
            Location::Local(p) => Ok(FileData::Local(p.clone())),
            Location::Http(url) => {
                let resp =
                    self.http.send(&[], |c| c.get(url.clone())).await.map_err(|e| http_error(e, &file.display))?;
                let v = version_from_headers(&resp.headers, Some(resp.body.len() as u64));
                if v.etag.is_some() || v.last_modified.is_some() {
                    file.version = v;
                } else {
                    file.version.size = Some(resp.body.len() as u64);
                }
                Ok(FileData::Memory(resp.body))
            }
            Location::S3 { bucket, key } => {
                let store = self.s3_store(bucket)?;
                let got = store.get(&ObjectPath::from(key.as_str())).await.map_err(|e| s3_error(e, &file.display))?;
                let meta = got.meta.clone();
                let bytes = got.bytes().await.map_err(|e| s3_error(e, &file.display))?;
                file.version =
                    FileVersion { last_modified: Some(meta.last_modified), size: Some(meta.size), etag: meta.e_tag };
                Ok(FileData::Memory(bytes))
            }
        }
    }
}

fn resolve_local(entry: &str) -> Result<Vec<SourceFile>> {
    let entry = entry.strip_prefix("file://").unwrap_or(entry);
    let paths: Vec<PathBuf> = if has_glob(entry) {
        let options = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
        let mut v: Vec<PathBuf> = glob::glob_with(entry, options)
            .map_err(|e| ConnectorError::config(format!("{entry} is not a valid glob: {e}")))?
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(ConnectorError::config(format!("no files match {entry}")));
        }
        v
    } else {
        vec![PathBuf::from(entry)]
    };
    paths
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path)
                .map_err(|e| ConnectorError::config(format!("cannot read file {}: {e}", path.display())))?;
            if meta.is_dir() {
                return Err(ConnectorError::config(format!(
                    "{} is a directory; name the workbooks or use a glob such as {}/*.xlsx",
                    path.display(),
                    path.display()
                )));
            }
            let version = FileVersion {
                last_modified: meta.modified().ok().map(DateTime::<Utc>::from),
                size: Some(meta.len()),
                etag: None,
            };
            Ok(SourceFile { display: path.display().to_string(), location: Location::Local(path), version })
        })
        .collect()
}

fn version_from_headers(headers: &reqwest::header::HeaderMap, body_len: Option<u64>) -> FileVersion {
    let text = |name: reqwest::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    FileVersion {
        last_modified: text(reqwest::header::LAST_MODIFIED)
            .and_then(|v| DateTime::parse_from_rfc2822(&v).ok())
            .map(|t| t.with_timezone(&Utc)),
        size: body_len.or_else(|| text(reqwest::header::CONTENT_LENGTH).and_then(|v| v.parse().ok())),
        etag: text(reqwest::header::ETAG),
    }
}

fn http_error(e: HttpError, display: &str) -> ConnectorError {
    let failure = e.failure_type();
    let message = match e.status() {
        Some(404) => format!("file {display} was not found (HTTP 404)"),
        Some(401 | 403) => format!("access to file {display} was denied (HTTP {})", e.status().unwrap_or(0)),
        _ => format!("cannot download file {display}: {e}"),
    };
    ConnectorError::new(failure, message)
}

fn s3_error(e: object_store::Error, display: &str) -> ConnectorError {
    match e {
        object_store::Error::NotFound { .. } => ConnectorError::config(format!("file {display} was not found")),
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            ConnectorError::config(format!("access to {display} was denied: check the S3 credentials"))
        }
        other => ConnectorError::transient(format!("cannot read {display} from S3: {other}")),
    }
}

// ---------------------------------------------------------------- workbooks

pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}
pub type Stream = Box<dyn ReadSeek>;

/// An open workbook of any supported format.
pub enum Workbook {
    Xlsx(calamine::Xlsx<Stream>),
    /// With what is needed to date RK-integer cells (`None` when no cell format is a date or styles are unreadable).
    Xlsb(calamine::Xlsb<Stream>, Option<XlsbDateFix>),
    Xls(calamine::Xls<Stream>),
    Ods(calamine::Ods<Stream>),
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

fn open_stream(data: &FileData, display: &str) -> Result<Stream> {
    Ok(match data {
        FileData::Local(p) => Box::new(BufReader::with_capacity(
            256 * 1024,
            std::fs::File::open(p).map_err(|e| ConnectorError::config(format!("cannot open file {display}: {e}")))?,
        )),
        FileData::Memory(b) => Box::new(Cursor::new(b.clone())),
    })
}

/// The formats to try, from the extension and the first bytes: zip (xlsx/xlsb/ods), OLE compound file (xls or an
/// encrypted workbook). A zip without a known extension may be any of the zip formats (an .xlsb saved as
/// `export.bin`, a URL without an extension), so each is tried, xlsx first.
fn sniff(data: &FileData, display: &str, extension: &str) -> Result<Vec<Format>> {
    let mut head = [0u8; 8];
    let n = {
        let mut s = open_stream(data, display)?;
        let mut n = 0;
        while n < head.len() {
            match s.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(ConnectorError::config(format!("cannot read file {display}: {e}"))),
            }
        }
        n
    };
    let head = &head[..n];
    if n == 0 {
        return Err(ConnectorError::config(format!("file {display} is empty, not a workbook")));
    }
    let by_extension = match extension {
        "xlsx" | "xlsm" | "xlam" | "xltx" | "xltm" => Some(Format::Xlsx),
        "xlsb" => Some(Format::Xlsb),
        "xls" | "xla" | "xlt" => Some(Format::Xls),
        "ods" | "fods" => Some(Format::Ods),
        _ => None,
    };
    let is_zip = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
    let is_ole = head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    match (by_extension, is_zip, is_ole) {
        (Some(Format::Xls), _, true) => Ok(vec![Format::Xls]),
        // Encrypted xlsx/xlsb are OLE files: calamine's xlsx reader reports them as password-protected.
        (Some(f @ (Format::Xlsx | Format::Xlsb)), _, true) => Ok(vec![f]),
        (Some(f @ (Format::Xlsx | Format::Xlsb | Format::Ods)), true, _) => Ok(vec![f]),
        (None, true, _) => Ok(vec![Format::Xlsx, Format::Xlsb, Format::Ods]),
        (None, _, true) => Ok(vec![Format::Xls]),
        (Some(f), _, _) => Err(ConnectorError::config(format!(
            "file {display} is not a valid {} workbook: it is neither a zip archive nor an OLE file{}",
            format_name(f),
            if head.iter().all(|b| b.is_ascii()) { " (it looks like text, e.g. CSV or HTML)" } else { "" }
        ))),
        (None, _, _) => {
            Err(ConnectorError::config(format!("file {display} is not a workbook (.xlsx, .xlsm, .xlsb, .xls or .ods)")))
        }
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Xlsx => ".xlsx",
        Format::Xlsb => ".xlsb",
        Format::Xls => ".xls",
        Format::Ods => ".ods",
    }
}

fn open_error(display: &str, format: Format, message: String) -> ConnectorError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("password") || lower.contains("encrypt") {
        return ConnectorError::config(format!(
            "file {display} is password-protected; this connector cannot decrypt workbooks: save a copy without a password"
        ));
    }
    ConnectorError::config(format!(
        "file {display} is not a valid {} workbook (corrupt or a different format): {message}",
        format_name(format)
    ))
}

/// One selected sheet of a workbook.
#[derive(Clone, Debug)]
pub struct SheetRef {
    pub name: String,
    pub index: usize,
}

impl Workbook {
    pub fn open(data: &FileData, file: &SourceFile) -> Result<Workbook> {
        let mut first_error = None;
        for format in sniff(data, &file.display, &file.extension())? {
            let stream = open_stream(data, &file.display)?;
            // calamine may panic on malformed input; a panic here is reported as a bad file, not a connector bug.
            let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match format {
                Format::Xlsx => calamine::Xlsx::new(stream).map(Workbook::Xlsx).map_err(|e| e.to_string()),
                Format::Xlsb => calamine::Xlsb::new(stream)
                    .map(|w| Workbook::Xlsb(w, XlsbDateFix::load(data, &file.display)))
                    .map_err(|e| e.to_string()),
                Format::Xls => calamine::Xls::new(stream).map(Workbook::Xls).map_err(|e| e.to_string()),
                Format::Ods => calamine::Ods::new(stream).map(Workbook::Ods).map_err(|e| e.to_string()),
            }));
            let error = match opened {
                Ok(Ok(wb)) => return Ok(wb),
                Ok(Err(message)) => open_error(&file.display, format, message),
                Err(_) => open_error(&file.display, format, crate::reader::take_panic_message()),
            };
            // The first format's error is the one reported: later tries are guesses.
            first_error.get_or_insert(error);
        }
        Err(first_error.unwrap_or_else(|| ConnectorError::config(format!("file {} is not a workbook", file.display))))
    }

    /// Whether sheets are read cell by cell (xlsx, xlsb) rather than loaded whole (xls, ods).
    pub fn is_streamed(&self) -> bool {
        matches!(self, Workbook::Xlsx(_) | Workbook::Xlsb(..))
    }

    fn sheets_metadata(&self) -> &[Sheet] {
        match self {
            Workbook::Xlsx(w) => w.sheets_metadata(),
            Workbook::Xlsb(w, _) => w.sheets_metadata(),
            Workbook::Xls(w) => w.sheets_metadata(),
            Workbook::Ods(w) => w.sheets_metadata(),
        }
    }

    /// The sheets the config selects, in workbook order. A named sheet that does not exist is a config error.
    pub fn select_sheets(&self, config: &XlsxConfig, display: &str) -> Result<Vec<SheetRef>> {
        let all = self.sheets_metadata();
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        let available = || names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
        if config.sheets.is_empty() && config.sheet_indexes.is_empty() {
            return Ok(all
                .iter()
                .enumerate()
                .filter(|(_, s)| s.typ == SheetType::WorkSheet)
                .filter(|(_, s)| config.include_hidden_sheets || s.visible == SheetVisible::Visible)
                .map(|(index, s)| SheetRef { name: s.name.clone(), index })
                .collect());
        }
        let mut chosen = vec![false; all.len()];
        for wanted in &config.sheets {
            let i = names.iter().position(|n| n == wanted).ok_or_else(|| {
                ConnectorError::config(format!(
                    "file {display}: sheet {wanted:?} does not exist (the workbook has {})",
                    available()
                ))
            })?;
            chosen[i] = true;
        }
        for &i in &config.sheet_indexes {
            if i as usize >= all.len() {
                return Err(ConnectorError::config(format!(
                    "file {display}: sheet index {i} does not exist (the workbook has {} sheets: {}; indexes start at 0)",
                    all.len(),
                    available()
                )));
            }
            chosen[i as usize] = true;
        }
        let mut out = Vec::new();
        for (index, s) in all.iter().enumerate().filter(|(i, _)| chosen[*i]) {
            if s.typ != SheetType::WorkSheet {
                return Err(ConnectorError::config(format!(
                    "file {display}: sheet {:?} is a {:?}, not a worksheet with cells",
                    s.name, s.typ
                )));
            }
            out.push(SheetRef { name: s.name.clone(), index });
        }
        Ok(out)
    }

    /// Call `visit(row, column, value)` for every stored cell of `sheet` in row-major order (0-based positions),
    /// until it returns `Ok(false)`. xlsx and xlsb are streamed; xls and ods are loaded per sheet by calamine.
    pub fn for_each_cell(
        &mut self,
        sheet: &str,
        visit: &mut dyn FnMut(u32, u32, &DataRef<'_>) -> Result<bool>,
    ) -> Result<()> {
        let cell_error = |e: String| ConnectorError::config(format!("the sheet's cells cannot be read: {e}"));
        match self {
            Workbook::Xlsx(w) => {
                let mut cells = w.worksheet_cells_reader(sheet).map_err(|e| cell_error(e.to_string()))?;
                while let Some(cell) = cells.next_cell().map_err(|e| cell_error(e.to_string()))? {
                    let (r, c) = cell.get_position();
                    if !visit(r, c, cell.get_value())? {
                        break;
                    }
                }
            }
            Workbook::Xlsb(w, fix) => {
                let mut cells = w.worksheet_cells_reader(sheet).map_err(|e| cell_error(e.to_string()))?;
                // A second, forward-only reader of the same sheet part gives each RK-integer cell's format.
                let mut archive = fix.as_ref().and_then(XlsbDateFix::open_archive);
                let mut styles = match (fix.as_ref(), archive.as_mut()) {
                    (Some(fix), Some(archive)) => fix.sheet_styles(archive, sheet),
                    _ => None,
                };
                while let Some(cell) = cells.next_cell().map_err(|e| cell_error(e.to_string()))? {
                    let (r, c) = cell.get_position();
                    let value = cell.get_value();
                    let dated = match (value, styles.as_mut(), fix.as_ref()) {
                        (DataRef::Int(n), Some(sheet_styles), Some(fix)) => match sheet_styles.next_rk_int_xf(r, c) {
                            Ok(xf) => fix.dates.as_date(*n, xf),
                            Err(e) => {
                                tracing::warn!(
                                    "file {}, sheet {sheet:?}: whole numbers with a date format are left as numbers \
                                     from row {} on ({e})",
                                    fix.display,
                                    r + 1
                                );
                                styles = None;
                                None
                            }
                        },
                        _ => None,
                    };
                    if !visit(r, c, dated.as_ref().unwrap_or(value))? {
                        break;
                    }
                }
            }
            Workbook::Xls(w) => {
                let range = w.worksheet_range(sheet).map_err(|e| cell_error(e.to_string()))?;
                visit_range(&range, visit)?;
            }
            Workbook::Ods(w) => {
                let range = w.worksheet_range(sheet).map_err(|e| cell_error(e.to_string()))?;
                visit_range(&range, visit)?;
            }
        }
        Ok(())
    }
}

fn visit_range(
    range: &calamine::Range<calamine::Data>,
    visit: &mut dyn FnMut(u32, u32, &DataRef<'_>) -> Result<bool>,
) -> Result<()> {
    use calamine::Data;
    let (r0, c0) = range.start().unwrap_or((0, 0));
    for (r, c, v) in range.used_cells() {
        let value = match v {
            Data::Int(i) => DataRef::Int(*i),
            Data::Float(f) => DataRef::Float(*f),
            Data::String(s) => DataRef::SharedString(s.as_str()),
            Data::Bool(b) => DataRef::Bool(*b),
            Data::DateTime(d) => DataRef::DateTime(*d),
            Data::DateTimeIso(s) => DataRef::DateTimeIso(s.clone()),
            Data::DurationIso(s) => DataRef::DurationIso(s.clone()),
            Data::Error(e) => DataRef::Error(e.clone()),
            Data::Empty => continue,
        };
        if !visit(r0 + r as u32, c0 + c as u32, &value)? {
            break;
        }
    }
    Ok(())
}

/// The message of the last panic caught while calamine parsed a file.
pub fn take_panic_message() -> String {
    airbyte_protocol::cli::panic_error().message.replace("internal error (a bug in the connector): ", "parser failed: ")
}

/// What an .xlsb workbook needs to date its RK-integer cells (see [`crate::xlsb_dates`]).
pub struct XlsbDateFix {
    dates: XlsbDates,
    data: FileData,
    display: String,
}

impl XlsbDateFix {
    /// `None` (with a warning when the styles cannot be read) leaves calamine's values as they are.
    fn load(data: &FileData, display: &str) -> Option<XlsbDateFix> {
        let loaded = open_stream(data, display)
            .map_err(|e| e.message)
            .and_then(|stream| zip::ZipArchive::new(stream).map_err(|e| e.to_string()))
            .and_then(|mut archive| XlsbDates::load(&mut archive));
        match loaded {
            Ok(dates) => Some(XlsbDateFix { dates: dates?, data: data.clone(), display: display.to_string() }),
            Err(e) => {
                let message =
                    format!("file {display}: cell formats cannot be read, whole-number dates stay numbers ({e})");
                tracing::warn!("{message}");
                None
            }
        }
    }

    fn open_archive(&self) -> Option<zip::ZipArchive<Stream>> {
        let archive = open_stream(&self.data, &self.display)
            .map_err(|e| e.message)
            .and_then(|stream| zip::ZipArchive::new(stream).map_err(|e| e.to_string()));
        archive
            .inspect_err(|e| {
                tracing::warn!("file {}: cannot reopen, whole-number dates stay numbers ({e})", self.display)
            })
            .ok()
    }

    fn sheet_styles<'a>(
        &self,
        archive: &'a mut zip::ZipArchive<Stream>,
        sheet: &str,
    ) -> Option<RkIntStyles<zip::read::ZipFile<'a, Stream>>> {
        self.dates
            .sheet_styles(archive, sheet)
            .inspect_err(|e| {
                tracing::warn!("file {}, sheet {sheet:?}: whole-number dates stay numbers ({e})", self.display)
            })
            .ok()
    }
}
