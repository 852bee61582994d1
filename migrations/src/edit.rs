//! Test-only edits of the embedded SQL: one exact text of one file replaced by another.
//!
//! A fuzz run plants a known bug in the migration this way (a backfill bound off by one, a
//! trigger left out) and proves that its oracle finds it. Real runs carry no edit. An edit
//! whose text is not found exactly once fails the run before anything executes: a planted bug
//! that silently stopped applying would make "the fuzzer found nothing" meaningless.

use std::collections::HashMap;
use std::sync::Mutex;

/// Replace `find` (which must occur exactly once) by `replace` in `file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlEdit {
    /// The SQL file, relative to `migrations/sql/` (e.g. `phase_1b/004_backfill.sql`).
    pub file: &'static str,
    /// The exact text to replace.
    pub find: &'static str,
    /// What replaces it.
    pub replace: &'static str,
}

/// An edit that does not apply to its file.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "SQL edit of {file}: the text to replace occurs {found} times (must be exactly once): {find:?}"
)]
pub struct SqlEditError {
    /// The file.
    pub file: &'static str,
    /// The text looked for.
    pub find: &'static str,
    /// How often it occurs.
    pub found: usize,
}

/// Files named by no edit are returned as they are; an edited file is built once per process
/// and kept (stages borrow their text for the life of the program, and the set of planted
/// edits is small and fixed).
static EDITED: Mutex<Option<HashMap<(&'static str, String), &'static str>>> = Mutex::new(None);

/// `sql` of `file` with every edit of `edits` naming `file` applied, in order.
pub fn edited_sql(
    file: &'static str,
    sql: &'static str,
    edits: &[SqlEdit],
) -> Result<&'static str, SqlEditError> {
    let mine: Vec<&SqlEdit> = edits.iter().filter(|e| e.file == file).collect();
    if mine.is_empty() {
        return Ok(sql);
    }
    let key = mine
        .iter()
        .map(|e| format!("{}\u{0}{}", e.find, e.replace))
        .collect::<Vec<_>>()
        .join("\u{1}");
    let mut cache = EDITED.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(done) = cache.get(&(file, key.clone())) {
        return Ok(done);
    }
    let mut text = sql.to_string();
    for e in mine {
        let found = text.matches(e.find).count();
        if found != 1 {
            return Err(SqlEditError {
                file,
                find: e.find,
                found,
            });
        }
        text = text.replacen(e.find, e.replace, 1);
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    cache.insert((file, key), leaked);
    Ok(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_applies_once_and_a_missing_or_ambiguous_text_is_refused() {
        let e = |find, replace| SqlEdit {
            file: "f.sql",
            find,
            replace,
        };
        let sql = "SELECT 1; SELECT 2; SELECT 2;";
        assert_eq!(edited_sql("other.sql", sql, &[e("1", "3")]).unwrap(), sql);
        assert_eq!(
            edited_sql("f.sql", sql, &[e("SELECT 1", "SELECT 9")]).unwrap(),
            "SELECT 9; SELECT 2; SELECT 2;"
        );
        let missing = edited_sql("f.sql", sql, &[e("SELECT 7", "x")]).unwrap_err();
        assert_eq!(missing.found, 0);
        let twice = edited_sql("f.sql", sql, &[e("SELECT 2", "x")]).unwrap_err();
        assert_eq!(twice.found, 2);
        assert!(twice.to_string().contains("2 times"), "{twice}");
    }
}
