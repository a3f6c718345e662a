//! SQL text for every statement the connector runs. The snowflake-api crate has no bind parameters, so every
//! name from data goes through [`quote_ident`] and every value through [`quote_literal`]; nothing else is ever
//! spliced into SQL.

use std::fmt;

/// The Airbyte columns every table has, in Airbyte's upper-case spelling.
pub const RAW_ID: &str = "_AIRBYTE_RAW_ID";
pub const EXTRACTED_AT: &str = "_AIRBYTE_EXTRACTED_AT";
pub const META: &str = "_AIRBYTE_META";
pub const GENERATION_ID: &str = "_AIRBYTE_GENERATION_ID";
/// Properties the catalog does not declare, kept as one VARIANT so nothing is dropped.
pub const ADDITIONAL_PROPERTIES: &str = "_AIRBYTE_ADDITIONAL_PROPERTIES";
/// The CDC column whose presence turns on hard deletes in dedup streams.
pub const CDC_DELETED_AT: &str = "_AB_CDC_DELETED_AT";

/// A double-quoted identifier: the name is kept exactly, `"` is doubled. Quoted identifiers cannot end the
/// statement or start another one, so `a"; drop table x; --` stays one odd name.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A single-quoted string literal. Snowflake treats `\` as an escape inside literals, so it is doubled as well
/// as `'`; NUL cannot appear in a literal and is dropped.
pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Airbyte's Snowflake name rule (destination-snowflake v4): upper case; `${` (which Snowflake Scripting would
/// expand) turns `$`, `{`, `}` into `_`; an empty name becomes `DEFAULT_NAME`.
pub fn snowflake_name(name: &str) -> String {
    if name.is_empty() {
        return "DEFAULT_NAME".to_string();
    }
    let name = if name.contains("${") { name.replace(['$', '{', '}'], "_") } else { name.to_string() };
    name.to_uppercase()
}

/// `"SCHEMA"."NAME"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    pub schema: String,
    pub name: String,
}

impl TableRef {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        TableRef { schema: schema.into(), name: name.into() }
    }
    /// A sibling table in the same schema.
    pub fn with_suffix(&self, suffix: &str) -> TableRef {
        TableRef { schema: self.schema.clone(), name: format!("{}{suffix}", self.name) }
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Snowflake column types (Airbyte's map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SfType {
    Text,
    Float,
    Number,
    Boolean,
    Date,
    TimestampTz,
    TimestampNtz,
    Time,
    Object,
    Array,
    Variant,
}

impl SfType {
    /// The type in DDL.
    pub fn ddl(self) -> &'static str {
        match self {
            SfType::Text => "VARCHAR",
            SfType::Float => "FLOAT",
            SfType::Number => "NUMBER(38,0)",
            SfType::Boolean => "BOOLEAN",
            SfType::Date => "DATE",
            SfType::TimestampTz => "TIMESTAMP_TZ",
            SfType::TimestampNtz => "TIMESTAMP_NTZ",
            SfType::Time => "TIME",
            SfType::Object => "OBJECT",
            SfType::Array => "ARRAY",
            SfType::Variant => "VARIANT",
        }
    }

    /// The type from `information_schema.columns.data_type` (`TEXT`, `NUMBER`, `TIMESTAMP_TZ`, ...).
    pub fn from_information_schema(data_type: &str, scale: Option<i64>) -> Option<SfType> {
        Some(match data_type.trim().to_ascii_uppercase().as_str() {
            "TEXT" | "VARCHAR" | "STRING" | "CHAR" | "CHARACTER" => SfType::Text,
            "FLOAT" | "DOUBLE" | "REAL" | "FLOAT4" | "FLOAT8" | "DOUBLE PRECISION" => SfType::Float,
            "NUMBER" | "DECIMAL" | "NUMERIC" if scale.unwrap_or(0) > 0 => SfType::Float,
            "NUMBER" | "DECIMAL" | "NUMERIC" | "INT" | "INTEGER" | "BIGINT" => SfType::Number,
            "BOOLEAN" => SfType::Boolean,
            "DATE" => SfType::Date,
            "TIMESTAMP_TZ" | "TIMESTAMP_LTZ" => SfType::TimestampTz,
            "TIMESTAMP_NTZ" | "TIMESTAMP" | "DATETIME" => SfType::TimestampNtz,
            "TIME" => SfType::Time,
            "OBJECT" => SfType::Object,
            "ARRAY" => SfType::Array,
            "VARIANT" => SfType::Variant,
            _ => return None,
        })
    }

    /// Semi-structured types share storage; a change among them needs no migration.
    fn semi_structured(self) -> bool {
        matches!(self, SfType::Object | SfType::Array | SfType::Variant)
    }

    /// Whether a column of type `self` must be migrated to hold `wanted`.
    pub fn needs_migration_to(self, wanted: SfType) -> bool {
        self != wanted && !(self.semi_structured() && wanted.semi_structured())
    }

    /// Whether every value of `self` converts to `to` without loss.
    pub fn converts_losslessly_to(self, to: SfType) -> bool {
        use SfType::*;
        match (self, to) {
            (a, b) if a == b => true,
            (_, Text) => !self.semi_structured(),
            (Number, Float) => true,
            (Date, TimestampNtz | TimestampTz) => true,
            (TimestampNtz, TimestampTz) => true,
            (a, Variant) => a.semi_structured(),
            _ => false,
        }
    }
}

/// How a staged Parquet column becomes the table value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// The Parquet value loads as is.
    Direct,
    /// JSON text in Parquet; `PARSE_JSON` makes it a VARIANT/OBJECT/ARRAY.
    ParseJson,
}

/// One table column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The Snowflake name (also the staged Parquet column name).
    pub name: String,
    pub sf_type: SfType,
    pub load: LoadKind,
    pub not_null: bool,
    /// The record property it holds (None for the Airbyte columns).
    pub property: Option<String>,
}

impl Column {
    pub fn new(name: impl Into<String>, sf_type: SfType, load: LoadKind) -> Self {
        Column { name: name.into(), sf_type, load, not_null: false, property: None }
    }
    /// The column's type in the load table (what the Parquet value lands in before the INSERT or MERGE).
    fn load_type(&self) -> &'static str {
        match (self.load, self.sf_type) {
            (LoadKind::ParseJson, _) => "VARCHAR",
            (LoadKind::Direct, t) if t.semi_structured() => "VARIANT",
            (LoadKind::Direct, t) => t.ddl(),
        }
    }
    /// The expression that turns the load-table value into the target value.
    fn value_expr(&self, source: &str) -> String {
        let col = format!("{source}.{}", quote_ident(&self.name));
        match (self.load, self.sf_type) {
            (LoadKind::ParseJson, SfType::Object) => format!("PARSE_JSON({col})::OBJECT"),
            (LoadKind::ParseJson, SfType::Array) => format!("PARSE_JSON({col})::ARRAY"),
            (LoadKind::ParseJson, _) => format!("PARSE_JSON({col})"),
            (LoadKind::Direct, SfType::Object) => format!("{col}::OBJECT"),
            (LoadKind::Direct, SfType::Array) => format!("{col}::ARRAY"),
            (LoadKind::Direct, _) => col,
        }
    }
}

/// `CREATE SCHEMA IF NOT EXISTS`.
pub fn create_schema(schema: &str) -> String {
    format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema))
}

/// `CREATE TABLE IF NOT EXISTS` with Time Travel retention.
pub fn create_table(table: &TableRef, columns: &[Column], retention_days: u32) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| {
            let null = if c.not_null { " NOT NULL" } else { "" };
            format!("{} {}{null}", quote_ident(&c.name), c.sf_type.ddl())
        })
        .collect();
    format!("CREATE TABLE IF NOT EXISTS {table} ({}) DATA_RETENTION_TIME_IN_DAYS = {retention_days}", cols.join(", "))
}

/// The transient table each staged file is copied into before it is inserted or merged.
pub fn create_load_table(table: &TableRef, columns: &[Column]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| format!("{} {}", quote_ident(&c.name), c.load_type())).collect();
    format!("CREATE OR REPLACE TRANSIENT TABLE {table} ({}) DATA_RETENTION_TIME_IN_DAYS = 0", cols.join(", "))
}

pub fn drop_table(table: &TableRef) -> String {
    format!("DROP TABLE IF EXISTS {table}")
}

pub fn delete_all(table: &TableRef) -> String {
    format!("DELETE FROM {table}")
}

/// The columns of a table, from `information_schema` (names compare exactly: identifiers are quoted).
pub fn describe_columns(table: &TableRef) -> String {
    format!(
        "SELECT column_name, data_type, numeric_scale FROM information_schema.columns \
         WHERE table_schema = {} AND table_name = {} ORDER BY ordinal_position",
        quote_literal(&table.schema),
        quote_literal(&table.name)
    )
}

/// The generation of a table's rows (any one row: a table holds one generation after a truncate).
pub fn select_generation(table: &TableRef) -> String {
    format!("SELECT {} FROM {table} LIMIT 1", quote_ident(GENERATION_ID))
}

pub fn add_column(table: &TableRef, column: &Column) -> String {
    format!("ALTER TABLE {table} ADD COLUMN {} {}", quote_ident(&column.name), column.sf_type.ddl())
}

/// Statements that change a column's type in place, keeping its values (Airbyte's add/cast/rename scheme).
/// A conversion that could lose values (e.g. text -> number) keeps the old column as
/// `<NAME>_AIRBYTE_PREV_<TYPE>` and fills the new one with `TRY_CAST`, so nothing is lost.
pub fn migrate_column(table: &TableRef, column: &Column, from: SfType, unique: &str) -> Vec<String> {
    let name = quote_ident(&column.name);
    let temp = quote_ident(&format!("{}_AIRBYTE_TMP_{unique}", column.name));
    let to = column.sf_type;
    let cast = if from.converts_losslessly_to(to) {
        match to {
            SfType::Text => format!("TO_VARCHAR({name})"),
            _ => format!("CAST({name} AS {})", to.ddl()),
        }
    } else if to.semi_structured() {
        format!("TO_VARIANT({name})")
    } else {
        format!("TRY_CAST(TO_VARCHAR({name}) AS {})", to.ddl())
    };
    let backup = if from.converts_losslessly_to(to) {
        quote_ident(&format!("{}_AIRBYTE_OLD_{unique}", column.name))
    } else {
        quote_ident(&format!("{}_AIRBYTE_PREV_{}", column.name, from.ddl().split('(').next().unwrap_or("TYPE")))
    };
    let mut out = vec![
        format!("ALTER TABLE {table} ADD COLUMN {temp} {}", to.ddl()),
        format!("UPDATE {table} SET {temp} = {cast}"),
        format!("ALTER TABLE {table} RENAME COLUMN {name} TO {backup}"),
        format!("ALTER TABLE {table} RENAME COLUMN {temp} TO {name}"),
    ];
    if from.converts_losslessly_to(to) {
        out.push(format!("ALTER TABLE {table} DROP COLUMN {backup}"));
    }
    out
}

/// A named internal stage with server-side encryption: the upload needs no client-side encryption.
pub fn create_internal_stage(stage: &TableRef) -> String {
    format!("CREATE STAGE IF NOT EXISTS {stage} ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')")
}

/// The PUT that asks Snowflake where to upload `local_path` (the connector uploads it itself).
///
/// It starts with a newline so the snowflake-api crate does not take it for a PUT of its own (its detection
/// regex wants `put` at the very start) and hands the answer back to the connector instead.
pub fn put(local_path: &str, stage: &TableRef) -> String {
    let url = format!("file://{local_path}");
    format!("\nPUT {} @{stage} AUTO_COMPRESS = FALSE SOURCE_COMPRESSION = NONE OVERWRITE = TRUE", quote_literal(&url))
}

/// COPY of one staged Parquet file into the load table, columns matched by name.
pub fn copy_from_stage(load: &TableRef, stage: &TableRef, file_name: &str) -> String {
    // The file goes in the stage path, not in FILES=(...): the name is ours (uuid + .parquet), never from data.
    format!(
        "COPY INTO {load} FROM @{stage}/{file_name} FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) \
         MATCH_BY_COLUMN_NAME = CASE_SENSITIVE ON_ERROR = ABORT_STATEMENT PURGE = TRUE"
    )
}

/// How COPY authenticates to an external S3 location.
pub enum S3Auth<'a> {
    Integration(&'a str),
    Keys { key_id: &'a str, secret: &'a str },
}

/// COPY of one Parquet file from S3 into the load table.
pub fn copy_from_s3(load: &TableRef, url: &str, auth: &S3Auth<'_>, purge: bool) -> String {
    let auth = match auth {
        S3Auth::Integration(name) => format!("STORAGE_INTEGRATION = {}", quote_ident(name)),
        S3Auth::Keys { key_id, secret } => {
            format!("CREDENTIALS = (AWS_KEY_ID = {} AWS_SECRET_KEY = {})", quote_literal(key_id), quote_literal(secret))
        }
    };
    format!(
        "COPY INTO {load} FROM {} {auth} FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) \
         MATCH_BY_COLUMN_NAME = CASE_SENSITIVE ON_ERROR = ABORT_STATEMENT PURGE = {}",
        quote_literal(url),
        if purge { "TRUE" } else { "FALSE" }
    )
}

fn column_list(columns: &[Column]) -> String {
    columns.iter().map(|c| quote_ident(&c.name)).collect::<Vec<_>>().join(", ")
}

/// Append: every loaded row into the target, converting JSON text to VARIANT.
pub fn insert_from_load(target: &TableRef, load: &TableRef, columns: &[Column]) -> String {
    let values: Vec<String> = columns.iter().map(|c| c.value_expr("l")).collect();
    format!("INSERT INTO {target} ({}) SELECT {} FROM {load} AS l", column_list(columns), values.join(", "))
}

/// What a dedup MERGE needs to know about the stream.
pub struct DedupKeys<'a> {
    pub primary_key: &'a [String],
    pub cursor: Option<&'a str>,
    /// Hard-delete rows whose `_AB_CDC_DELETED_AT` is set.
    pub hard_delete: bool,
}

/// Dedup: keep the newest loaded row per primary key (cursor, then extraction time), then MERGE it into the
/// target where it is newer than the row there (Airbyte's comparison, nulls included).
pub fn merge_from_load(target: &TableRef, load: &TableRef, columns: &[Column], keys: &DedupKeys<'_>) -> String {
    let q = |c: &str| quote_ident(c);
    let extracted = q(EXTRACTED_AT);
    let pk_partition: Vec<String> = keys.primary_key.iter().map(|k| q(k)).collect();
    let order = match keys.cursor {
        Some(c) => format!("{} DESC NULLS LAST, {extracted} DESC", q(c)),
        None => format!("{extracted} DESC"),
    };
    let converted: Vec<String> = columns.iter().map(|c| format!("{} AS {}", c.value_expr("l"), q(&c.name))).collect();
    let source = format!(
        "SELECT {cols} FROM (SELECT {converted}, ROW_NUMBER() OVER (PARTITION BY {pk} ORDER BY {order}) AS \
         \"_AIRBYTE_ROW_NUMBER\" FROM {load} AS l) WHERE \"_AIRBYTE_ROW_NUMBER\" = 1",
        cols = column_list(columns),
        converted = converted.join(", "),
        pk = pk_partition.join(", "),
    );
    let on: Vec<String> = keys
        .primary_key
        .iter()
        .map(|k| {
            let k = q(k);
            format!("(t.{k} = n.{k} OR (t.{k} IS NULL AND n.{k} IS NULL))")
        })
        .collect();
    let newer = match keys.cursor {
        Some(c) => {
            let c = q(c);
            format!(
                "(t.{c} < n.{c} OR (t.{c} = n.{c} AND t.{extracted} < n.{extracted}) \
                 OR (t.{c} IS NULL AND n.{c} IS NULL AND t.{extracted} < n.{extracted}) \
                 OR (t.{c} IS NULL AND n.{c} IS NOT NULL))"
            )
        }
        None => format!("t.{extracted} < n.{extracted}"),
    };
    let set: Vec<String> = columns.iter().map(|c| format!("{} = n.{}", q(&c.name), q(&c.name))).collect();
    let insert_values: Vec<String> = columns.iter().map(|c| format!("n.{}", q(&c.name))).collect();
    let (delete, skip_deleted) = if keys.hard_delete {
        let d = q(CDC_DELETED_AT);
        (format!(" WHEN MATCHED AND n.{d} IS NOT NULL AND {newer} THEN DELETE"), format!(" AND n.{d} IS NULL"))
    } else {
        (String::new(), String::new())
    };
    format!(
        "MERGE INTO {target} AS t USING ({source}) AS n ON {on}{delete} \
         WHEN MATCHED AND {newer} THEN UPDATE SET {set} \
         WHEN NOT MATCHED{skip_deleted} THEN INSERT ({cols}) VALUES ({values})",
        on = on.join(" AND "),
        set = set.join(", "),
        cols = column_list(columns),
        values = insert_values.join(", "),
    )
}

/// Atomic exchange of the freshly loaded table with the live one (Snowflake's `SWAP WITH`).
pub fn swap(staged: &TableRef, live: &TableRef) -> String {
    format!("ALTER TABLE {staged} SWAP WITH {live}")
}

/// `ALTER TABLE ... RENAME TO` (the fallback where SWAP is not available).
pub fn rename(from: &TableRef, to: &TableRef) -> String {
    format!("ALTER TABLE {from} RENAME TO {to}")
}

/// Generation cleanup: drop rows of generations older than the catalog's `minimum_generation_id`.
pub fn delete_old_generations(table: &TableRef, minimum_generation: i64) -> String {
    let g = quote_ident(GENERATION_ID);
    format!("DELETE FROM {table} WHERE {g} IS NULL OR {g} < {minimum_generation}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_cannot_break_out() {
        assert_eq!(quote_ident(r#"a"; drop table x; --"#), r#""a""; drop table x; --""#);
        assert_eq!(quote_literal(r"it's a \ test"), r"'it''s a \\ test'");
        assert_eq!(quote_literal("nul\0byte"), "'nulbyte'");
        let t = TableRef::new("MY SCHEMA", snowflake_name(r#"a"; drop table x; --"#));
        assert_eq!(t.to_string(), r#""MY SCHEMA"."A""; DROP TABLE X; --""#);
    }

    #[test]
    fn names_follow_airbyte() {
        assert_eq!(snowflake_name("users"), "USERS");
        assert_eq!(snowflake_name("naïve name"), "NAÏVE NAME");
        assert_eq!(snowflake_name("a${b}"), "A__B_");
        assert_eq!(snowflake_name(""), "DEFAULT_NAME");
    }

    #[test]
    fn type_changes() {
        assert!(!SfType::Object.needs_migration_to(SfType::Variant));
        assert!(SfType::Number.needs_migration_to(SfType::Float));
        assert!(SfType::Number.converts_losslessly_to(SfType::Text));
        assert!(!SfType::Text.converts_losslessly_to(SfType::Number));
        assert_eq!(SfType::from_information_schema("NUMBER", Some(0)), Some(SfType::Number));
        assert_eq!(SfType::from_information_schema("NUMBER", Some(2)), Some(SfType::Float));
        assert_eq!(SfType::from_information_schema("TEXT", None), Some(SfType::Text));
        let t = TableRef::new("S", "T");
        let c = Column::new("N", SfType::Number, LoadKind::Direct);
        let lossy = migrate_column(&t, &c, SfType::Text, "u1");
        assert!(lossy.iter().any(|s| s.contains("TRY_CAST(TO_VARCHAR(\"N\") AS NUMBER(38,0))")), "{lossy:?}");
        assert!(lossy.iter().all(|s| !s.contains("DROP COLUMN")), "lossy keeps the old column: {lossy:?}");
        let safe = migrate_column(&t, &Column::new("N", SfType::Float, LoadKind::Direct), SfType::Number, "u1");
        assert!(safe.last().unwrap().contains("DROP COLUMN \"N_AIRBYTE_OLD_u1\""), "{safe:?}");
    }

    #[test]
    fn merge_keeps_newest_by_cursor_then_extracted_at() {
        let cols = vec![
            Column::new(RAW_ID, SfType::Text, LoadKind::Direct),
            Column::new(EXTRACTED_AT, SfType::TimestampTz, LoadKind::Direct),
            Column::new("ID", SfType::Number, LoadKind::Direct),
            Column::new("UPDATED", SfType::TimestampTz, LoadKind::Direct),
            Column::new("DOC", SfType::Object, LoadKind::ParseJson),
        ];
        let pk = vec!["ID".to_string()];
        let sql = merge_from_load(
            &TableRef::new("S", "T"),
            &TableRef::new("S", "L"),
            &cols,
            &DedupKeys { primary_key: &pk, cursor: Some("UPDATED"), hard_delete: false },
        );
        assert!(sql.contains(r#"PARTITION BY "ID" ORDER BY "UPDATED" DESC NULLS LAST, "_AIRBYTE_EXTRACTED_AT" DESC"#));
        assert!(sql.contains(r#"PARSE_JSON(l."DOC")::OBJECT AS "DOC""#), "{sql}");
        assert!(sql.contains(r#"(t."ID" = n."ID" OR (t."ID" IS NULL AND n."ID" IS NULL))"#));
        assert!(sql.contains(r#"t."UPDATED" < n."UPDATED""#));
        assert!(!sql.contains("DELETE"));
        let sql = merge_from_load(
            &TableRef::new("S", "T"),
            &TableRef::new("S", "L"),
            &cols,
            &DedupKeys { primary_key: &pk, cursor: None, hard_delete: true },
        );
        assert!(
            sql.contains(r#"THEN DELETE"#) && sql.contains(r#"WHEN NOT MATCHED AND n."_AB_CDC_DELETED_AT" IS NULL"#)
        );
        assert!(sql.contains(r#"ORDER BY "_AIRBYTE_EXTRACTED_AT" DESC)"#), "{sql}");
    }

    #[test]
    fn stage_copy_and_swap_text() {
        let stage = TableRef::new("S", "AIRBYTE_STAGE_T");
        assert_eq!(
            create_internal_stage(&stage),
            r#"CREATE STAGE IF NOT EXISTS "S"."AIRBYTE_STAGE_T" ENCRYPTION = (TYPE = 'SNOWFLAKE_SSE')"#
        );
        let put = put("/tmp/a'b.parquet", &stage);
        assert!(put.starts_with("\nPUT 'file:///tmp/a''b.parquet' @\"S\".\"AIRBYTE_STAGE_T\""), "{put}");
        let copy = copy_from_stage(&TableRef::new("S", "L"), &stage, "f.parquet");
        assert!(
            copy.contains("MATCH_BY_COLUMN_NAME = CASE_SENSITIVE")
                && copy.contains("@\"S\".\"AIRBYTE_STAGE_T\"/f.parquet")
        );
        let s3 = copy_from_s3(
            &TableRef::new("S", "L"),
            "s3://b/p/f.parquet",
            &S3Auth::Keys { key_id: "AK", secret: "se'cret" },
            true,
        );
        assert!(s3.contains("FROM 's3://b/p/f.parquet' CREDENTIALS = (AWS_KEY_ID = 'AK' AWS_SECRET_KEY = 'se''cret')"));
        assert!(s3.contains("PURGE = TRUE"));
        let s3 = copy_from_s3(&TableRef::new("S", "L"), "s3://b/f", &S3Auth::Integration("my int"), false);
        assert!(s3.contains(r#"STORAGE_INTEGRATION = "my int""#) && s3.contains("PURGE = FALSE"));
        assert_eq!(
            swap(&TableRef::new("S", "T_AIRBYTE_TMP"), &TableRef::new("S", "T")),
            r#"ALTER TABLE "S"."T_AIRBYTE_TMP" SWAP WITH "S"."T""#
        );
        assert_eq!(
            delete_old_generations(&TableRef::new("S", "T"), 3),
            r#"DELETE FROM "S"."T" WHERE "_AIRBYTE_GENERATION_ID" IS NULL OR "_AIRBYTE_GENERATION_ID" < 3"#
        );
    }
}
