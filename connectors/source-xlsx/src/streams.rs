//! Streams: one per selected sheet. Discover lays out each sheet (skipped rows, header, column names) and
//! infers column types from the first rows; read streams every row of a sheet into RECORD lines, one thread
//! per sheet, with per-stream state keyed on the file's version.

use crate::config::XlsxConfig;
use crate::reader::{FileAccess, FileData, FileVersion, SheetRef, SourceFile, Workbook};
use crate::values::{write_i64, write_json_str, write_value, Cell, Kind};
use airbyte_protocol::{
    files::reads_incrementally, AirbyteCatalog, AirbyteStream, ChangeKind, ChangeReason, ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream, ConnectorError, FieldChange, InputState, Result, SourceOutput, StreamDescriptor,
    StreamWriter, SyncMode,
};
use calamine::DataRef;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

pub const FIELD_FILE: &str = "_ab_source_file";
pub const FIELD_SHEET: &str = "_ab_sheet_name";
pub const FIELD_ROW: &str = "_ab_row_number";
pub const FIELD_MODIFIED: &str = "_ab_source_file_last_modified";
const META_FIELDS: [&str; 4] = [FIELD_FILE, FIELD_SHEET, FIELD_ROW, FIELD_MODIFIED];

// ---------------------------------------------------------------- names

/// Stream names: `<file stem>_<sheet>`, lower case ASCII, unique within the catalog. Files with the same stem
/// are told apart by their nearest differing folders (`a/book.xlsx` -> `a_book`), which depends only on the
/// list of files, so a read that skips unchanged files names the others as discover did.
#[derive(Default)]
pub struct StreamNamer {
    used: HashSet<String>,
    prefixes: HashMap<String, String>,
}

impl StreamNamer {
    pub fn new(files: &[SourceFile]) -> Self {
        let stems: Vec<String> = files.iter().map(|f| sanitize(&f.stem())).collect();
        let mut prefixes = HashMap::new();
        for (i, file) in files.iter().enumerate() {
            let group: Vec<usize> = (0..files.len()).filter(|j| stems[*j] == stems[i]).collect();
            let mut prefix = stems[i].clone();
            if group.len() > 1 {
                let folders = |j: usize| -> Vec<String> {
                    let parts: Vec<&str> = files[j].display.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
                    parts[..parts.len().saturating_sub(1)].iter().rev().map(|p| sanitize(p)).collect()
                };
                let label = |j: usize, k: usize| -> String {
                    let f = folders(j);
                    let mut parts: Vec<String> = f.into_iter().take(k).collect();
                    parts.reverse();
                    parts.push(stems[j].clone());
                    parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("_")
                };
                let deepest = group.iter().map(|j| folders(*j).len()).max().unwrap_or(0);
                let k = (1..=deepest)
                    .find(|k| {
                        let labels: HashSet<String> = group.iter().map(|j| label(*j, *k)).collect();
                        labels.len() == group.len()
                    })
                    .unwrap_or(deepest);
                prefix = label(i, k);
            }
            prefixes.insert(file.display.clone(), prefix);
        }
        StreamNamer { used: HashSet::new(), prefixes }
    }
    pub fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }
    pub fn name(&mut self, file: &SourceFile, sheet: &SheetRef) -> String {
        let stem = self.prefixes.get(&file.display).cloned().unwrap_or_else(|| sanitize(&file.stem()));
        let sheet_part = sanitize(&sheet.name);
        let sheet_part = if sheet_part.is_empty() { format!("sheet_{}", sheet.index + 1) } else { sheet_part };
        let base = if stem.is_empty() { sheet_part } else { format!("{stem}_{sheet_part}") };
        unique(&mut self.used, base)
    }
}

fn unique(used: &mut HashSet<String>, base: String) -> String {
    let mut name = base.clone();
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    used.insert(name.clone());
    name
}

/// Lower-case ASCII letters, digits and single underscores; German umlauts are transliterated.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for ch in raw.chars().flat_map(char::to_lowercase) {
        match ch {
            'a'..='z' | '0'..='9' => out.push(ch),
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            _ => {
                if !out.ends_with('_') {
                    out.push('_')
                }
            }
        }
    }
    out.trim_matches('_').to_string()
}

/// Column names from the header row: a pure function of the header and the column, so discover and read agree.
/// Empty header cells give `column_<n>` (column A = 1); duplicates get `_2`, `_3`.
pub struct ColumnNamer {
    by_column: BTreeMap<u32, (String, Option<String>)>,
    used: HashSet<String>,
}

impl ColumnNamer {
    pub fn new(header: &[(u32, String)], overrides: &[String]) -> Self {
        let mut used: HashSet<String> = META_FIELDS.iter().map(|s| s.to_string()).collect();
        let mut texts: BTreeMap<u32, (String, Option<String>)> = BTreeMap::new();
        for (col, text) in header {
            texts.insert(*col, (text.clone(), Some(text.clone())));
        }
        for (i, name) in overrides.iter().enumerate() {
            if !name.trim().is_empty() {
                let original = texts.get(&(i as u32)).and_then(|(_, o)| o.clone());
                texts.insert(i as u32, (name.clone(), original));
            }
        }
        let mut by_column = BTreeMap::new();
        for (col, (text, original)) in texts {
            let base = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if base.is_empty() {
                continue;
            }
            by_column.insert(col, (unique(&mut used, base), original));
        }
        ColumnNamer { by_column, used }
    }

    /// The name of a column and its original header text (if it had one).
    pub fn name(&self, col: u32) -> (String, Option<String>) {
        if let Some((name, original)) = self.by_column.get(&col) {
            return (name.clone(), original.clone());
        }
        let base = format!("column_{}", col + 1);
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        (name, None)
    }

    pub fn header_columns(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_column.keys().copied()
    }
}

/// A1-style reference of a 0-based cell (for messages).
pub fn cell_ref(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut c = col + 1;
    while c > 0 {
        let rem = (c - 1) % 26;
        letters.push(b'A' + rem as u8);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", String::from_utf8_lossy(&letters), row + 1)
}

fn column_letters(col: u32) -> String {
    cell_ref(0, col).trim_end_matches('1').to_string()
}

// ---------------------------------------------------------------- sheet layout

/// Tracks where a sheet's header and data are while its cells stream by.
struct LayoutTracker<'c> {
    config: &'c XlsxConfig,
    header_row: Option<u32>,
    header_cells: Vec<(u32, String)>,
    header_done: bool,
}

enum Place<'v> {
    /// Before the table, in the header, or in the rows skipped after it.
    Outside,
    /// The header has just been completed: build the column names, then treat this cell as data.
    HeaderComplete(Cell<'v>),
    Data(Cell<'v>),
}

impl<'c> LayoutTracker<'c> {
    fn new(config: &'c XlsxConfig) -> Self {
        LayoutTracker { config, header_row: None, header_cells: Vec::new(), header_done: !config.header }
    }

    fn place<'v>(&mut self, row: u32, col: u32, value: &'v DataRef<'_>) -> Place<'v> {
        if row < self.config.skip_rows {
            return Place::Outside;
        }
        let cell = Cell::from_data(value);
        let mut just_completed = false;
        if !self.header_done {
            if cell.is_empty() {
                return Place::Outside;
            }
            match self.header_row {
                None => {
                    self.header_row = Some(row);
                    self.header_cells.push((col, cell.header_text()));
                    return Place::Outside;
                }
                Some(h) if h == row => {
                    self.header_cells.push((col, cell.header_text()));
                    return Place::Outside;
                }
                Some(_) => {
                    self.header_done = true;
                    just_completed = true;
                }
            }
        }
        if row < self.data_start() {
            return if just_completed { Place::HeaderComplete(Cell::Empty) } else { Place::Outside };
        }
        if just_completed {
            Place::HeaderComplete(cell)
        } else {
            Place::Data(cell)
        }
    }

    fn data_start(&self) -> u32 {
        match self.header_row {
            Some(h) => h + 1 + self.config.skip_rows_after_header,
            None => self.config.skip_rows,
        }
    }

    fn namer(&self) -> ColumnNamer {
        ColumnNamer::new(&self.header_cells, &self.config.column_names)
    }
}

/// What discover learns about a sheet.
pub struct SheetSchema {
    /// (column, name, original header, type) in column order.
    pub columns: Vec<(u32, String, Option<String>, Kind)>,
}

/// Lay out a sheet and infer its column types from its first `infer_rows` data rows.
pub fn infer_sheet(wb: &mut Workbook, sheet: &str, config: &XlsxConfig) -> Result<SheetSchema> {
    let mut layout = LayoutTracker::new(config);
    let mut kinds: BTreeMap<u32, Option<Kind>> = BTreeMap::new();
    let mut rows_seen: u64 = 0;
    let mut current_row: Option<u32> = None;
    let mut row_has_value = false;
    let limit = config.infer_rows as u64;
    wb.for_each_cell(sheet, &mut |row, col, value| {
        let cell = match layout.place(row, col, value) {
            Place::Outside => return Ok(true),
            Place::HeaderComplete(c) | Place::Data(c) => c,
        };
        if current_row != Some(row) {
            if row_has_value {
                rows_seen += 1;
                if limit > 0 && rows_seen >= limit {
                    return Ok(false);
                }
            }
            current_row = Some(row);
            row_has_value = false;
        }
        if cell.is_empty() {
            return Ok(true);
        }
        row_has_value = true;
        let entry = kinds.entry(col).or_insert(None);
        if let Some(k) = cell.kind() {
            *entry = Some(entry.map_or(k, |prev| prev.widen(k)));
        }
        Ok(true)
    })?;
    let namer = layout.namer();
    let mut cols: Vec<u32> = namer.header_columns().chain(kinds.keys().copied()).collect();
    cols.sort_unstable();
    cols.dedup();
    let columns = cols
        .into_iter()
        .map(|col| {
            let (name, original) = namer.name(col);
            let kind = kinds.get(&col).copied().flatten().unwrap_or(Kind::String);
            (col, name, original, kind)
        })
        .collect();
    Ok(SheetSchema { columns })
}

/// The stream's JSON schema: the sheet's columns, then the four `_ab_` fields.
pub fn stream_schema(schema: &SheetSchema) -> Value {
    let mut props = Map::new();
    for (col, name, original, kind) in &schema.columns {
        let description = match original {
            Some(o) => o.clone(),
            None => format!("Column {} (no header)", column_letters(*col)),
        };
        props.insert(name.clone(), kind.schema(Some(&description)));
    }
    props.insert(FIELD_FILE.into(), json!({"type": "string", "description": "The workbook this row was read from."}));
    props.insert(FIELD_SHEET.into(), json!({"type": "string", "description": "The sheet this row was read from."}));
    props.insert(
        FIELD_ROW.into(),
        json!({"type": "integer", "description": "The row's number in the sheet, as Excel shows it (1 = first row)."}),
    );
    props.insert(
        FIELD_MODIFIED.into(),
        json!({"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_with_timezone",
               "description": "When the workbook was last modified (the incremental cursor)."}),
    );
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": true,
        "properties": props,
    })
}

fn airbyte_stream(name: String, schema: Value) -> AirbyteStream {
    let mut s = AirbyteStream::new(name, schema);
    s.supported_sync_modes = vec![SyncMode::FullRefresh, SyncMode::Incremental];
    s.source_defined_cursor = Some(true);
    s.default_cursor_field = Some(vec![FIELD_MODIFIED.to_string()]);
    s.source_defined_primary_key =
        Some(vec![vec![FIELD_FILE.to_string()], vec![FIELD_SHEET.to_string()], vec![FIELD_ROW.to_string()]]);
    s
}

fn with_context(e: ConnectorError, file: &str) -> ConnectorError {
    if e.message.contains(file) {
        e
    } else {
        e.context(format!("file {file}"))
    }
}

/// Discover: one stream per selected sheet of every file.
pub async fn discover(config: &XlsxConfig) -> Result<AirbyteCatalog> {
    let access = FileAccess::new(config)?;
    let files = access.resolve(&config.files).await?;
    let mut namer = StreamNamer::new(&files);
    let mut streams = Vec::new();
    for mut file in files {
        let data = access.fetch(&mut file).await?;
        let file_ref = &file;
        let found = blocking(move || -> Result<Vec<(SheetRef, SheetSchema)>> {
            let mut wb = Workbook::open(&data, file_ref)?;
            let mut out = Vec::new();
            for sheet in wb.select_sheets(config, &file_ref.display)? {
                let schema = guarded(|| infer_sheet(&mut wb, &sheet.name, &config.for_sheet(&sheet.name)))
                    .map_err(|e| with_context(e, &format!("{}, sheet {:?}", file_ref.display, sheet.name)))?;
                out.push((sheet, schema));
            }
            Ok(out)
        })?;
        for (sheet, schema) in found {
            streams.push(airbyte_stream(namer.name(&file, &sheet), stream_schema(&schema)));
        }
    }
    Ok(AirbyteCatalog { streams, extra: Default::default() })
}

/// Run blocking work (parsing, threads) from async code without stalling the runtime's other tasks.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Run calamine work, turning a parser panic into a config error about the input.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(ConnectorError::config(format!(
            "the workbook could not be parsed ({})",
            crate::reader::take_panic_message()
        ))),
    }
}

/// Check: every file resolves, and the first ones open with the selected sheets present.
pub async fn check(config: &XlsxConfig) -> Result<()> {
    let access = FileAccess::new(config)?;
    let files = access.resolve(&config.files).await?;
    for mut file in files.into_iter().take(10) {
        let data = access.fetch(&mut file).await?;
        let wb = Workbook::open(&data, &file)?;
        let sheets = wb.select_sheets(config, &file.display)?;
        if sheets.is_empty() {
            return Err(ConnectorError::config(format!(
                "file {}: no sheet to read (all sheets are hidden or not worksheets; set include_hidden_sheets or name the sheets)",
                file.display
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- state

/// Saved state of one stream: which file and sheet it reads, and that file's version when last read.
#[derive(Debug, Clone, Default, PartialEq)]
struct SavedVersion {
    source_file: Option<String>,
    version: FileVersion,
}

fn parse_state(v: &Value) -> SavedVersion {
    SavedVersion {
        source_file: v.get("source_file").and_then(Value::as_str).map(str::to_string),
        version: FileVersion {
            last_modified: v
                .get(FIELD_MODIFIED)
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
            size: v.get("size").and_then(Value::as_u64),
            etag: v.get("etag").and_then(Value::as_str).map(str::to_string),
        },
    }
}

fn state_value(file: &SourceFile, sheet: &str) -> Value {
    json!({
        "source_file": file.display,
        "sheet": sheet,
        FIELD_MODIFIED: file.version.last_modified_text(),
        "size": file.version.size,
        "etag": file.version.etag,
    })
}

/// Whether the file is the one saved in the state (nothing new to read). A saved time later than the file's
/// (a state from the future) also counts as read.
fn unchanged(saved: &FileVersion, now: &FileVersion) -> bool {
    // State keeps microseconds; file systems may have nanoseconds.
    if let (Some(a), Some(b)) = (saved.last_modified, now.last_modified) {
        let (a, b) = (a.timestamp_micros(), b.timestamp_micros());
        if a > b {
            return true;
        }
        if a < b {
            return false;
        }
    }
    if let (Some(a), Some(b)) = (&saved.etag, &now.etag) {
        return a == b;
    }
    if let (Some(a), Some(b)) = (saved.size, now.size) {
        if a != b {
            return false;
        }
    }
    saved.last_modified.is_some() && now.last_modified.is_some()
}

// ---------------------------------------------------------------- read

struct Target<'a> {
    configured: &'a ConfiguredAirbyteStream,
    incremental: bool,
    saved: Option<SavedVersion>,
    saved_raw: Option<Value>,
    done: bool,
}

struct Job {
    stream: StreamDescriptor,
    sheet: String,
    kinds: HashMap<String, Kind>,
}

/// Read every configured stream.
pub async fn read(
    config: &XlsxConfig,
    catalog: &ConfiguredAirbyteCatalog,
    state: &InputState,
    out: &SourceOutput,
) -> Result<()> {
    let access = FileAccess::new(config)?;
    let files = access.resolve(&config.files).await?;
    let mut targets: HashMap<String, Target<'_>> = HashMap::new();
    for cs in &catalog.streams {
        let descriptor = cs.descriptor();
        targets.insert(
            cs.stream.name.clone(),
            Target {
                configured: cs,
                incremental: reads_incrementally(cs),
                saved: state.stream(&descriptor).map(parse_state),
                saved_raw: state.stream(&descriptor).cloned(),
                done: false,
            },
        );
    }
    let mut namer = StreamNamer::new(&files);
    let mut errors: Vec<ConnectorError> = Vec::new();
    for mut file in files {
        // Skip opening (and downloading) a file when every stream still to read is known to come from
        // another file, or from this one unchanged.
        let pending: Vec<&Target<'_>> = targets.values().filter(|t| !t.done).collect();
        if pending.is_empty() {
            break;
        }
        let mine: Vec<String> = pending
            .iter()
            .filter(|t| t.saved.as_ref().and_then(|s| s.source_file.as_deref()) == Some(file.display.as_str()))
            .map(|t| t.configured.stream.name.clone())
            .collect();
        let unknown = pending.iter().any(|t| t.saved.as_ref().and_then(|s| s.source_file.as_ref()).is_none());
        let mine_unchanged = mine.iter().all(|n| {
            let t = &targets[n];
            t.incremental && t.saved.as_ref().is_some_and(|s| unchanged(&s.version, &file.version))
        });
        if !unknown && mine_unchanged {
            for name in &mine {
                namer.reserve(name);
                let t = targets.get_mut(name).expect("target");
                t.done = true;
                emit_unchanged(out, t, &file)?;
            }
            continue;
        }
        let result = read_file(config, &access, &mut file, &mut targets, &mut namer, out).await;
        if let Err(e) = result {
            // Stream errors were logged by their worker; file errors (download, open) are logged here.
            if e.stream.is_none() {
                tracing::error!("{}", e.message);
            }
            errors.push(e);
        }
    }
    let missing: Vec<String> =
        targets.values().filter(|t| !t.done).map(|t| t.configured.descriptor().to_string()).collect();
    if !missing.is_empty() && errors.is_empty() {
        let mut sorted = missing;
        sorted.sort();
        errors.push(ConnectorError::config(format!(
            "the configured catalog names streams that no configured file has (a file or sheet was removed or renamed; run discover again): {}",
            sorted.join(", ")
        )));
    }
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A stream whose file has not changed: statuses and the saved state again, no records.
fn emit_unchanged(out: &SourceOutput, t: &Target<'_>, file: &SourceFile) -> Result<()> {
    let mut w = out.start_stream(t.configured.descriptor())?;
    tracing::info!(
        "Stream {}: {} is unchanged since the last sync; nothing to read.",
        t.configured.stream.name,
        file.display
    );
    w.state(t.saved_raw.clone().unwrap_or(Value::Null))?;
    w.complete()
}

async fn read_file(
    config: &XlsxConfig,
    access: &FileAccess,
    file: &mut SourceFile,
    targets: &mut HashMap<String, Target<'_>>,
    namer: &mut StreamNamer,
    out: &SourceOutput,
) -> Result<()> {
    let data = access.fetch(file).await?;
    let file = &*file;
    let wb = Workbook::open(&data, file)?;
    let sheets = wb.select_sheets(config, &file.display)?;
    let mut jobs = VecDeque::new();
    for sheet in &sheets {
        let name = namer.name(file, sheet);
        let Some(t) = targets.get_mut(&name) else { continue };
        t.done = true;
        if t.incremental && t.saved.as_ref().is_some_and(|s| unchanged(&s.version, &file.version)) {
            emit_unchanged(out, t, file)?;
            continue;
        }
        let kinds = t
            .configured
            .stream
            .json_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter(|(k, _)| !META_FIELDS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), Kind::from_schema(v).unwrap_or(Kind::String)))
                    .collect()
            })
            .unwrap_or_default();
        jobs.push_back(Job { stream: t.configured.descriptor(), sheet: sheet.name.clone(), kinds });
    }
    if jobs.is_empty() {
        return Ok(());
    }
    // Streamed sheets cost little memory, so every sheet gets its own thread (up to 8): with 3 sheets on 2 cores
    // the work then spreads evenly. Sheets that calamine loads whole (xls, ods) are read one per core.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let threads = if wb.is_streamed() { jobs.len().min(8) } else { jobs.len().min(cores) };
    let queue = Mutex::new(jobs);
    let first_wb = Mutex::new(Some(wb));
    let errors: Mutex<Vec<ConnectorError>> = Mutex::new(Vec::new());
    let work = || {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut wb: Option<Workbook> = first_wb.lock().unwrap_or_else(|e| e.into_inner()).take();
                    loop {
                        let Some(job) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else { break };
                        if let Err(e) = run_job(config, &data, file, &mut wb, &job, out) {
                            let e = e.with_stream(job.stream.clone());
                            tracing::error!("{}", e.message);
                            errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                        }
                    }
                });
            }
        })
    };
    blocking(work);
    match errors.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn run_job(
    config: &XlsxConfig,
    data: &FileData,
    file: &SourceFile,
    wb: &mut Option<Workbook>,
    job: &Job,
    out: &SourceOutput,
) -> Result<()> {
    let mut writer = out.start_stream(job.stream.clone())?;
    let book = match wb {
        Some(b) => b,
        None => wb.insert(Workbook::open(data, file)?),
    };
    let where_ = format!("file {}, sheet {:?}", file.display, job.sheet);
    let sheet_config = config.for_sheet(&job.sheet);
    let stats = guarded(|| read_sheet(book, &sheet_config, file, job, &mut writer)).map_err(|e| {
        if e.message.contains(&file.display) {
            e
        } else {
            e.context(&where_)
        }
    })?;
    if stats.records == 0 {
        tracing::warn!("{where_}: no data rows (the sheet is empty or has only a header).");
    }
    if stats.bad_values > 0 {
        tracing::warn!(
            "{where_}: {} values did not fit their column type and were emitted as null (listed in each record's meta.changes).",
            stats.bad_values
        );
    }
    if stats.dropped_cells > 0 {
        tracing::warn!(
            "{where_}: {} cells lie in columns that are not in the stream's schema and were left out (first: {}); run discover again, with a larger infer_rows (0 = all rows) if the columns start late in the sheet.",
            stats.dropped_cells,
            stats.first_dropped.unwrap_or_default()
        );
    }
    writer.state(state_value(file, &job.sheet))?;
    writer.complete()
}

#[derive(Default)]
struct SheetStats {
    records: u64,
    bad_values: u64,
    dropped_cells: u64,
    first_dropped: Option<String>,
}

/// Where a column's values go in the record.
enum Slot {
    Unknown,
    Field { key: Vec<u8>, name: String, kind: Kind },
    Dropped,
}

const MAX_CELL_WARNINGS: u64 = 10;

fn read_sheet(
    wb: &mut Workbook,
    config: &XlsxConfig,
    file: &SourceFile,
    job: &Job,
    writer: &mut StreamWriter,
) -> Result<SheetStats> {
    let mut layout = LayoutTracker::new(config);
    let mut namer: Option<ColumnNamer> = None;
    let mut slots: Vec<Slot> = Vec::new();
    let mut stats = SheetStats::default();
    // `,"_ab_source_file":...,"_ab_row_number":` — the same for every row of the sheet.
    let mut suffix = Vec::new();
    suffix.extend_from_slice(b"\"");
    suffix.extend_from_slice(FIELD_FILE.as_bytes());
    suffix.extend_from_slice(b"\":");
    write_json_str(&mut suffix, &file.display);
    suffix.extend_from_slice(format!(",\"{FIELD_SHEET}\":").as_bytes());
    write_json_str(&mut suffix, &job.sheet);
    suffix.extend_from_slice(format!(",\"{FIELD_MODIFIED}\":").as_bytes());
    match file.version.last_modified_text() {
        Some(t) => write_json_str(&mut suffix, &t),
        None => suffix.extend_from_slice(b"null"),
    }
    suffix.extend_from_slice(format!(",\"{FIELD_ROW}\":").as_bytes());

    let mut row_buf: Vec<u8> = Vec::with_capacity(1024);
    let mut changes: Vec<FieldChange> = Vec::new();
    let mut current_row: Option<u32> = None;
    let mut row_has_value = false;
    let mut fields_in_row = 0usize;

    let mut finish_row = |row_buf: &mut Vec<u8>,
                          changes: &mut Vec<FieldChange>,
                          row: u32,
                          has_value: bool,
                          fields: usize,
                          stats: &mut SheetStats|
     -> Result<()> {
        if has_value {
            if fields > 0 {
                row_buf.push(b',');
            }
            row_buf.extend_from_slice(&suffix);
            write_i64(row_buf, row as i64 + 1);
            row_buf.push(b'}');
            writer.record_raw_with_changes(row_buf, changes)?;
            stats.records += 1;
        }
        row_buf.clear();
        row_buf.push(b'{');
        changes.clear();
        Ok(())
    };
    row_buf.push(b'{');

    wb.for_each_cell(&job.sheet, &mut |row, col, value| {
        let cell = match layout.place(row, col, value) {
            Place::Outside => return Ok(true),
            Place::HeaderComplete(c) => {
                namer = Some(layout.namer());
                c
            }
            Place::Data(c) => c,
        };
        if current_row != Some(row) {
            if let Some(prev) = current_row {
                finish_row(&mut row_buf, &mut changes, prev, row_has_value, fields_in_row, &mut stats)?;
            }
            current_row = Some(row);
            row_has_value = false;
            fields_in_row = 0;
        }
        if cell.is_empty() {
            return Ok(true);
        }
        row_has_value = true;
        let idx = col as usize;
        if slots.len() <= idx {
            slots.resize_with(idx + 1, || Slot::Unknown);
        }
        if let Slot::Unknown = slots[idx] {
            let namer = namer.get_or_insert_with(|| layout.namer());
            let (name, _) = namer.name(col);
            slots[idx] = match job.kinds.get(&name) {
                Some(kind) => {
                    let mut key = Vec::with_capacity(name.len() + 3);
                    write_json_str(&mut key, &name);
                    key.push(b':');
                    Slot::Field { key, name, kind: *kind }
                }
                None => Slot::Dropped,
            };
        }
        match &slots[idx] {
            Slot::Field { key, name, kind } => {
                if fields_in_row > 0 {
                    row_buf.push(b',');
                }
                fields_in_row += 1;
                row_buf.extend_from_slice(key);
                if !write_value(&mut row_buf, &cell, *kind) {
                    stats.bad_values += 1;
                    if stats.bad_values <= MAX_CELL_WARNINGS {
                        tracing::warn!(
                            "file {}, sheet {:?}, cell {}: {} does not fit the column's type ({:?}); emitted null.",
                            file.display,
                            job.sheet,
                            cell_ref(row, col),
                            describe(&cell),
                            kind
                        );
                    }
                    changes.push(FieldChange::new(
                        name.clone(),
                        ChangeKind::Nulled,
                        ChangeReason::SourceSerializationError,
                    ));
                }
            }
            Slot::Dropped => {
                stats.dropped_cells += 1;
                if stats.first_dropped.is_none() {
                    stats.first_dropped = Some(cell_ref(row, col));
                }
            }
            Slot::Unknown => {}
        }
        Ok(true)
    })?;
    if let Some(prev) = current_row {
        finish_row(&mut row_buf, &mut changes, prev, row_has_value, fields_in_row, &mut stats)?;
    }
    Ok(stats)
}

fn describe(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Error(e) => format!("the formula error {e}"),
        Cell::BadDate(serial) => format!("a date outside the years 1-9999 (serial {serial})"),
        Cell::Text(s) => {
            let short: String = s.chars().take(40).collect();
            format!("the text {short:?}")
        }
        other => format!("the value {other:?}"),
    }
}
