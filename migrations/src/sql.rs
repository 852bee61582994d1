//! The embedded SQL files, their stages and statements, and their fingerprint.
//!
//! A step file is plain SQL a DBA can read and run. Lines `--@stage NAME [batch|autocommit]`
//! cut it into stages the runner runs one after the other, so that no lock is held for longer
//! than one stage (or one batch):
//! * a plain stage runs in one transaction, statement by statement;
//! * a `batch` stage is one statement run again and again, each time in its own transaction,
//!   until it reports that it found nothing left to do (it sets `migrations.batch_rows` to the
//!   rows it handled; `migrations.batch_size` says how many to take);
//! * an `autocommit` stage runs each statement outside any transaction (`CREATE INDEX
//!   CONCURRENTLY`).
//!
//! A file without a `--@stage` line is one plain stage named `main`.

use sha2::{Digest, Sha256};

/// Phase 1A: the baseline schema and the hash-canon functions, in order (the contract's).
pub use contract::PHASE_1A_SCRIPTS;

/// Phase 1B (`phase_1b_schema`): its steps, in order, each logged as its own step.
pub const PHASE_1B_SCRIPTS: &[(&str, &str)] = &[
    (
        "phase_1b/001_migration_control.sql",
        include_str!("../sql/phase_1b/001_migration_control.sql"),
    ),
    (
        "phase_1b/002_v2_tables.sql",
        include_str!("../sql/phase_1b/002_v2_tables.sql"),
    ),
    (
        "phase_1b/003_dual_write.sql",
        include_str!("../sql/phase_1b/003_dual_write.sql"),
    ),
    (
        "phase_1b/004_backfill.sql",
        include_str!("../sql/phase_1b/004_backfill.sql"),
    ),
    (
        "phase_1b/005_keys.sql",
        include_str!("../sql/phase_1b/005_keys.sql"),
    ),
];

/// The state a failed Revision A M6 left behind (not part of the migration; a test scenario).
pub const REVISION_A_M6_PARTIAL: (&str, &str) = (
    "revision_a/m6_partial.sql",
    include_str!("../sql/revision_a/m6_partial.sql"),
);

pub(crate) const STEP_0: &str = include_str!("../sql/phase_1c/step_0_verify_lock.sql");
pub(crate) const STEP_1: &str = include_str!("../sql/phase_1c/step_1_cleanup_m6.sql");
pub(crate) const STEP_2: &str = include_str!("../sql/phase_1c/step_2_identity_tables.sql");
pub(crate) const STEP_3: &str = include_str!("../sql/phase_1c/step_3_revised_m6.sql");
pub(crate) const STEP_4: &str = include_str!("../sql/phase_1c/step_4_revised_m7.sql");
pub(crate) const STEP_5: &str = include_str!("../sql/phase_1c/step_5_m8_guardrail.sql");
pub(crate) const STEP_6: &str = include_str!("../sql/phase_1c/step_6_m9_hash_additions.sql");
pub(crate) const STEP_7: &str = include_str!("../sql/phase_1c/step_7_m10_cutover.sql");
pub(crate) const STEP_7_COMPRESSION: &str =
    include_str!("../sql/phase_1c/step_7_m10_cutover_compression.sql");
pub(crate) const STEP_7B: &str = include_str!("../sql/phase_1c/step_7b_post_cutover_finalize.sql");
pub(crate) const STEP_8: &str = include_str!("../sql/phase_1c/step_8_full_validation.sql");
pub(crate) const STEP_9: &str = include_str!("../sql/phase_1c/step_9_unlock.sql");

/// The embedded text of a migration file by its name relative to `migrations/sql/` (Phase 1B,
/// Phase 1C and the Revision A leftovers; Phase 1A is the contract's).
pub fn embedded_sql(file: &str) -> Option<&'static str> {
    PHASE_1B_SCRIPTS
        .iter()
        .copied()
        .chain(
            crate::steps()
                .iter()
                .flat_map(|s| std::iter::once((s.file, s.sql)).chain(s.post_commit)),
        )
        .chain(std::iter::once(REVISION_A_M6_PARTIAL))
        .find(|(name, _)| *name == file)
        .map(|(_, sql)| sql)
}

/// SHA-256 (lower-case hex) over every embedded SQL file, names included: a template database
/// or a cached result named by it can never outlive a change to the migration.
pub fn sql_fingerprint() -> String {
    let mut h = Sha256::new();
    let phase_1c = crate::steps()
        .iter()
        .flat_map(|s| std::iter::once((s.file, s.sql)).chain(s.post_commit));
    let all = PHASE_1A_SCRIPTS
        .iter()
        .chain(PHASE_1B_SCRIPTS.iter())
        .copied()
        .chain(phase_1c)
        .chain(std::iter::once(REVISION_A_M6_PARTIAL));
    for (name, sql) in all {
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(sql.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// One statement of a file, with the line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text (without its terminating `;`).
    pub sql: &'static str,
    /// 1-based line of the file where the statement's first token is.
    pub line: usize,
}

/// How a stage runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    /// One transaction, statement by statement.
    Transaction,
    /// One statement, repeated in its own transaction until it handles no row.
    Batch,
    /// Each statement outside any transaction.
    Autocommit,
}

/// A stage of a step file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its name (`main` for a file without stages).
    pub name: &'static str,
    /// How it runs.
    pub kind: StageKind,
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// A step file the runner cannot use: always a bug in the file, reported with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SqlFileError {
    /// The file.
    pub file: &'static str,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Cut a step file into its stages.
pub fn parse_stages(file: &'static str, sql: &'static str) -> Result<Vec<Stage>, SqlFileError> {
    let mut stages = Vec::new();
    // (name, kind, byte offset of the body, line of the body's first line)
    let mut current: Option<(&'static str, StageKind, usize, usize)> = None;
    let mut offset = 0;
    let mut preamble_end = sql.len();
    for (idx, line) in sql.split_inclusive('\n').enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("--@stage") {
            let mut words = rest.split_whitespace();
            let name = words.next().ok_or_else(|| SqlFileError {
                file,
                line: idx + 1,
                message: "`--@stage` needs a name".into(),
            })?;
            let kind = match words.next() {
                None => StageKind::Transaction,
                Some("batch") => StageKind::Batch,
                Some("autocommit") => StageKind::Autocommit,
                Some(other) => {
                    return Err(SqlFileError {
                        file,
                        line: idx + 1,
                        message: format!("unknown stage kind `{other}` (batch or autocommit)"),
                    })
                }
            };
            if let Some((n, k, start, start_line)) = current.take() {
                stages.push(stage(file, n, k, &sql[start..offset], start_line)?);
            } else {
                preamble_end = offset;
            }
            current = Some((name, kind, offset + line.len(), idx + 2));
        }
        offset += line.len();
    }
    match current {
        Some((n, k, start, start_line)) => {
            // Text before the first stage is commentary; a statement there would run nowhere.
            if !split_statements(&sql[..preamble_end], 1).is_empty() {
                return Err(SqlFileError {
                    file,
                    line: 1,
                    message: "a statement before the first `--@stage` line".into(),
                });
            }
            stages.push(stage(file, n, k, &sql[start..], start_line)?);
        }
        None => stages.push(stage(file, "main", StageKind::Transaction, sql, 1)?),
    }
    let mut names: Vec<&str> = stages.iter().map(|s| s.name).collect();
    names.sort_unstable();
    names.dedup();
    if names.len() != stages.len() {
        return Err(SqlFileError {
            file,
            line: 1,
            message: "two stages share a name".into(),
        });
    }
    Ok(stages)
}

fn stage(
    file: &'static str,
    name: &'static str,
    kind: StageKind,
    body: &'static str,
    first_line: usize,
) -> Result<Stage, SqlFileError> {
    let statements = split_statements(body, first_line);
    if statements.is_empty() {
        return Err(SqlFileError {
            file,
            line: first_line.saturating_sub(1).max(1),
            message: format!("stage `{name}` has no statement"),
        });
    }
    if kind == StageKind::Batch && statements.len() != 1 {
        return Err(SqlFileError {
            file,
            line: first_line,
            message: format!(
                "batch stage `{name}` must be exactly one statement (has {})",
                statements.len()
            ),
        });
    }
    Ok(Stage {
        name,
        kind,
        statements,
    })
}

/// Split SQL into statements at top-level `;`, skipping comment-only pieces. Quotes ('...',
/// E'...' with backslash escapes, "..."), dollar quotes ($tag$...$tag$) and comments (-- and
/// nested /* */) are honoured. `first_line` is the line number of `sql`'s first line.
pub fn split_statements(sql: &'static str, first_line: usize) -> Vec<Statement> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = first_line;
    // start of the current statement's first token (byte offset, line)
    let mut start: Option<(usize, usize)> = None;
    let mut piece_start = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b';' => {
                if let Some((s, l)) = start.take() {
                    out.push(Statement {
                        sql: sql[s..i].trim_end(),
                        line: l,
                    });
                }
                i += 1;
                piece_start = i;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            _ => {
                if start.is_none() {
                    start = Some((i, line));
                }
                let _ = piece_start;
                match c {
                    b'\'' => {
                        let escapes = i > 0 && matches!(b[i - 1], b'E' | b'e');
                        i += 1;
                        while i < b.len() {
                            if escapes && b[i] == b'\\' {
                                i += 2;
                                continue;
                            }
                            if b[i] == b'\n' {
                                line += 1;
                            }
                            if b[i] == b'\'' {
                                if b.get(i + 1) == Some(&b'\'') {
                                    i += 2;
                                    continue;
                                }
                                break;
                            }
                            i += 1;
                        }
                        i += 1;
                    }
                    b'"' => {
                        i += 1;
                        while i < b.len() && b[i] != b'"' {
                            if b[i] == b'\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                        i += 1;
                    }
                    b'$' => match dollar_tag(&b[i..]) {
                        Some(tag_len) => {
                            let tag = &b[i..i + tag_len];
                            i += tag_len;
                            while i < b.len() && !b[i..].starts_with(tag) {
                                if b[i] == b'\n' {
                                    line += 1;
                                }
                                i += 1;
                            }
                            i = (i + tag_len).min(b.len());
                        }
                        None => i += 1,
                    },
                    _ => i += 1,
                }
            }
        }
    }
    if let Some((s, l)) = start {
        let rest = sql[s..].trim_end();
        if !rest.is_empty() {
            out.push(Statement { sql: rest, line: l });
        }
    }
    out
}

/// Length of a dollar-quote tag (`$$`, `$body$`) at the start of `b`, if it is one.
fn dollar_tag(b: &[u8]) -> Option<usize> {
    let mut j = 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        if j == 1 && b[j].is_ascii_digit() {
            return None; // $1 is a parameter, not a tag
        }
        j += 1;
    }
    (j < b.len() && b[j] == b'$').then_some(j + 1)
}

/// The index name of a `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ...` statement.
pub(crate) fn concurrent_index_name(statement: &str) -> Option<&str> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = upper.iter().position(|w| w == "CONCURRENTLY")?;
    if !upper[..at].iter().any(|w| w == "INDEX")
        || upper.first().map(String::as_str) != Some("CREATE")
    {
        return None;
    }
    let mut k = at + 1;
    if upper.get(k).map(String::as_str) == Some("IF") {
        k += 3;
    }
    words.get(k).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_top_level_semicolons_with_their_lines() {
        let sql = "-- a comment; not a statement\nSELECT 1;\n\nDO $$ BEGIN PERFORM 1; END $$;\nSELECT 'a;b', \"c;d\", E'x\\';y' /* ; */ ;\n  INSERT INTO t VALUES ($1);\n-- trailing";
        let s = split_statements(sql, 10);
        let texts: Vec<&str> = s.iter().map(|s| s.sql).collect();
        assert_eq!(
            texts,
            [
                "SELECT 1",
                "DO $$ BEGIN PERFORM 1; END $$",
                "SELECT 'a;b', \"c;d\", E'x\\';y' /* ; */",
                "INSERT INTO t VALUES ($1)"
            ]
        );
        let lines: Vec<usize> = s.iter().map(|s| s.line).collect();
        assert_eq!(lines, [11, 13, 14, 15]);
        let tagged = split_statements(
            "DO $body$ BEGIN RAISE NOTICE '$$;'; END $body$; SELECT 2",
            1,
        );
        assert_eq!(tagged.len(), 2);
        assert_eq!(tagged[1].sql, "SELECT 2");
        assert!(split_statements("-- only\n/* comments */\n", 1).is_empty());
    }

    #[test]
    fn stages_parse_with_kinds_and_lines() {
        let sql = "-- header\n--@stage one\nSELECT 1;\nSELECT 2;\n--@stage two batch\nSELECT 3;\n--@stage three autocommit\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);\n";
        let st = parse_stages("f.sql", sql).unwrap_or_else(|e| panic!("{e}"));
        let shape: Vec<(&str, StageKind, usize)> = st
            .iter()
            .map(|s| (s.name, s.kind, s.statements.len()))
            .collect();
        assert_eq!(
            shape,
            [
                ("one", StageKind::Transaction, 2),
                ("two", StageKind::Batch, 1),
                ("three", StageKind::Autocommit, 1)
            ]
        );
        assert_eq!(st[0].statements[1].line, 4);
        assert_eq!(st[1].statements[0].line, 6);
        let whole = parse_stages("g.sql", "SELECT 1;\nSELECT 2;").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((whole.len(), whole[0].name), (1, "main"));
    }

    #[test]
    fn bad_stage_files_are_refused_with_their_line() {
        let two = parse_stages("f.sql", "--@stage b batch\nSELECT 1;\nSELECT 2;\n");
        assert!(matches!(two, Err(SqlFileError { line: 2, .. })), "{two:?}");
        assert!(parse_stages("f.sql", "--@stage x bogus\nSELECT 1;").is_err());
        assert!(parse_stages("f.sql", "SELECT 0;\n--@stage x\nSELECT 1;").is_err());
        assert!(parse_stages("f.sql", "--@stage x\nSELECT 1;\n--@stage x\nSELECT 2;").is_err());
        assert!(parse_stages("f.sql", "--@stage x\n-- nothing\n").is_err());
    }

    #[test]
    fn concurrent_index_names_are_found() {
        assert_eq!(
            concurrent_index_name("CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON t (x)"),
            Some("a_idx")
        );
        assert_eq!(
            concurrent_index_name("create unique index concurrently b ON t (x)"),
            Some("b")
        );
        assert_eq!(concurrent_index_name("CREATE INDEX c ON t (x)"), None);
    }

    #[test]
    fn every_embedded_file_parses() {
        for (file, sql) in PHASE_1B_SCRIPTS {
            parse_stages(file, sql).unwrap_or_else(|e| panic!("{e}"));
        }
        for s in crate::steps() {
            parse_stages(s.file, s.sql).unwrap_or_else(|e| panic!("{e}"));
            if let Some((f, sql)) = s.post_commit {
                parse_stages(f, sql).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}
