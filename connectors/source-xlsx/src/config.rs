//! The connector's configuration: which files, which sheets, how each sheet's table is laid out.
//! `connection_specification()` is the JSON schema the platform shows; the structs below parse a config
//! that already passed it.

use serde::Deserialize;
use serde_json::{json, Value};

/// A validated source-xlsx config.
#[derive(Deserialize, Clone)]
pub struct XlsxConfig {
    /// Workbooks to read: local paths (relative to the working directory), `http(s)://` URLs or `s3://bucket/key`
    /// URLs. Local paths and S3 keys may be globs (`data/*.xlsx`, `s3://bucket/epd/**/*.xlsx`).
    pub files: Vec<String>,
    /// Sheets to read, by name. Empty (with `sheet_indexes` empty too): every visible worksheet.
    #[serde(default)]
    pub sheets: Vec<String>,
    /// Sheets to read, by 0-based position in the workbook; combined with `sheets`.
    #[serde(default)]
    pub sheet_indexes: Vec<u32>,
    /// Also read hidden sheets when no sheet is named (named sheets are always read).
    #[serde(default)]
    pub include_hidden_sheets: bool,
    /// Rows at the top of every sheet to skip before the header (a title block, notes).
    #[serde(default)]
    pub skip_rows: u32,
    /// Whether the first non-empty row after `skip_rows` holds the column names. Without a header, columns are
    /// named `column_1`, `column_2`, ... (by sheet column, A = 1) unless `column_names` names them.
    #[serde(default = "default_true")]
    pub header: bool,
    /// Rows to skip right after the header (e.g. a units row under the column names).
    #[serde(default)]
    pub skip_rows_after_header: u32,
    /// Column names by position: the first entry names column A, the second column B, ... An empty entry keeps
    /// the header's name. Overrides the header.
    #[serde(default)]
    pub column_names: Vec<String>,
    /// Data rows per sheet used to infer column types in discover; 0 reads the whole sheet.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: u32,
    /// Layout settings for particular sheets (by name), overriding the ones above for those sheets.
    #[serde(default)]
    pub sheet_options: Vec<SheetOptions>,
    /// Connection settings for `s3://` files.
    #[serde(default)]
    pub s3: Option<S3Config>,
}

/// Layout settings for one sheet name (in every file); unset fields keep the workbook-wide value.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct SheetOptions {
    /// The sheet these settings apply to.
    pub sheet: String,
    #[serde(default)]
    pub skip_rows: Option<u32>,
    #[serde(default)]
    pub header: Option<bool>,
    #[serde(default)]
    pub skip_rows_after_header: Option<u32>,
    #[serde(default)]
    pub column_names: Option<Vec<String>>,
    #[serde(default)]
    pub infer_rows: Option<u32>,
}

impl XlsxConfig {
    /// The settings for one sheet: `sheet_options` for that sheet name applied over the workbook-wide ones.
    pub fn for_sheet(&self, sheet: &str) -> std::borrow::Cow<'_, XlsxConfig> {
        let Some(o) = self.sheet_options.iter().find(|o| o.sheet == sheet) else {
            return std::borrow::Cow::Borrowed(self);
        };
        let mut c = self.clone();
        c.skip_rows = o.skip_rows.unwrap_or(c.skip_rows);
        c.header = o.header.unwrap_or(c.header);
        c.skip_rows_after_header = o.skip_rows_after_header.unwrap_or(c.skip_rows_after_header);
        c.infer_rows = o.infer_rows.unwrap_or(c.infer_rows);
        if let Some(names) = &o.column_names {
            c.column_names = names.clone();
        }
        std::borrow::Cow::Owned(c)
    }
}

/// Settings for files on Amazon S3 or an S3-compatible store.
#[derive(Deserialize, Clone, Default)]
pub struct S3Config {
    /// AWS region (default `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store (MinIO, Ceph, R2, ...); empty for AWS itself.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Access key id; empty uses the environment (`AWS_ACCESS_KEY_ID`, instance roles).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for XlsxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XlsxConfig")
            .field("files", &self.files.iter().map(|f| crate::reader::display_location(f)).collect::<Vec<_>>())
            .field("sheets", &self.sheets)
            .field("sheet_indexes", &self.sheet_indexes)
            .field("include_hidden_sheets", &self.include_hidden_sheets)
            .field("skip_rows", &self.skip_rows)
            .field("header", &self.header)
            .field("skip_rows_after_header", &self.skip_rows_after_header)
            .field("column_names", &self.column_names)
            .field("infer_rows", &self.infer_rows)
            .field("sheet_options", &self.sheet_options)
            .field("s3", &self.s3)
            .finish()
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |v: &Option<String>| v.as_ref().map(|_| airbyte_protocol::redact::MASK);
        f.debug_struct("S3Config")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &masked(&self.access_key_id))
            .field("secret_access_key", &masked(&self.secret_access_key))
            .field("session_token", &masked(&self.session_token))
            .finish()
    }
}

fn default_true() -> bool {
    true
}
fn default_infer_rows() -> u32 {
    1000
}

/// The connection specification (JSON schema draft 7) shown to users; `specs/source-xlsx/spec.json` holds it too.
pub fn connection_specification() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Excel workbooks (xlsx, xlsm, xlsb, xls, ods)",
        "type": "object",
        "required": ["files"],
        "properties": {
            "files": {
                "title": "Files",
                "description": "Workbooks to read: local paths (relative to the working directory), http(s):// URLs or s3://bucket/key URLs. Local paths and S3 keys may be globs (data/*.xlsx, s3://bucket/epd/**/*.xlsx). Every sheet becomes a stream named <file stem>_<sheet>.",
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "minLength": 1},
                "examples": [["specs/source-xlsx/examples/sample.xlsx"], ["s3://my-bucket/epd/*.xlsx"]],
                "order": 0
            },
            "sheets": {
                "title": "Sheets by name",
                "description": "Sheets to read, by name. Leave empty (with sheet_indexes empty too) to read every visible worksheet.",
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "order": 1
            },
            "sheet_indexes": {
                "title": "Sheets by position",
                "description": "Sheets to read, by 0-based position in the workbook; combined with the sheets named above.",
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "default": [],
                "order": 2
            },
            "include_hidden_sheets": {
                "title": "Include hidden sheets",
                "description": "Also read hidden sheets when no sheet is named (a named sheet is always read).",
                "type": "boolean",
                "default": false,
                "order": 3
            },
            "skip_rows": {
                "title": "Rows to skip",
                "description": "Rows at the top of every sheet to skip before the header (a title block, notes).",
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "order": 4
            },
            "header": {
                "title": "Header row",
                "description": "Whether the first non-empty row after the skipped rows holds the column names. Without a header, columns are named column_1, column_2, ... (column A = 1) unless column_names names them.",
                "type": "boolean",
                "default": true,
                "order": 5
            },
            "skip_rows_after_header": {
                "title": "Rows to skip after the header",
                "description": "Rows to skip right after the header, e.g. a units row under the column names.",
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "order": 6
            },
            "column_names": {
                "title": "Column names",
                "description": "Column names by position: the first entry names column A, the second column B, and so on. An empty entry keeps the header's name.",
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "order": 7
            },
            "infer_rows": {
                "title": "Rows for type inference",
                "description": "Data rows per sheet used to infer column types in discover; 0 reads the whole sheet. A later value that does not fit the inferred type is emitted as null with a SOURCE_SERIALIZATION_ERROR change in the record's meta.",
                "type": "integer",
                "minimum": 0,
                "default": 1000,
                "order": 8
            },
            "sheet_options": {
                "title": "Per-sheet layout",
                "description": "Layout settings for particular sheets (by name, in every file) that differ from the ones above, e.g. a title block on one sheet only. Unset fields keep the values above.",
                "type": "array",
                "default": [],
                "order": 9,
                "items": {
                    "type": "object",
                    "required": ["sheet"],
                    "properties": {
                        "sheet": {"title": "Sheet", "description": "The sheet name these settings apply to.", "type": "string"},
                        "skip_rows": {"title": "Rows to skip", "type": "integer", "minimum": 0},
                        "header": {"title": "Header row", "type": "boolean"},
                        "skip_rows_after_header": {"title": "Rows to skip after the header", "type": "integer", "minimum": 0},
                        "column_names": {"title": "Column names", "type": "array", "items": {"type": "string"}},
                        "infer_rows": {"title": "Rows for type inference", "type": "integer", "minimum": 0}
                    }
                }
            },
            "s3": {
                "title": "S3 connection",
                "description": "Settings for s3:// files (Amazon S3 or an S3-compatible store).",
                "type": "object",
                "order": 10,
                "properties": {
                    "region": {"title": "Region", "description": "AWS region (default us-east-1).", "type": "string", "order": 0},
                    "endpoint": {"title": "Endpoint", "description": "Endpoint URL of an S3-compatible store (MinIO, Ceph, R2); leave empty for AWS.", "type": "string", "order": 1},
                    "access_key_id": {"title": "Access key ID", "description": "Leave empty to use the environment (AWS_ACCESS_KEY_ID, instance roles).", "type": "string", "airbyte_secret": true, "order": 2},
                    "secret_access_key": {"title": "Secret access key", "type": "string", "airbyte_secret": true, "order": 3},
                    "session_token": {"title": "Session token", "description": "For temporary credentials.", "type": "string", "airbyte_secret": true, "order": 4}
                }
            }
        }
    })
}
