//! The implementation log: the seed log's report, section for section, with the real values of
//! one run or of one existing database, plus the sections this project adds (hour grid,
//! archive parity).
//!
//! * [`model`]: the data, one struct per section;
//! * [`gather`]: reading it from the database (read-only) and from a run's STEP_8 audit;
//! * [`assemble`]: turning what was read into the model;
//! * [`markdown`] renders the seed log's text, [`json`] the model itself.

pub mod assemble;
pub mod gather;
pub mod json;
pub mod markdown;
pub mod model;

pub use assemble::{assemble, fmt_ts, parity_text, validation_from, AuditOutcomes, DatabaseFacts};
pub use gather::{
    connect_database, gather_database, gather_database_on, gather_run, read_facts,
    read_only_session, ReportError,
};
pub use model::*;

/// Violating rows sampled per check when the report reruns the checks itself.
pub const DEFAULT_SAMPLE: usize = 10;

/// Output format of the implementation log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    /// The seed log's markdown.
    #[default]
    Md,
    /// The model as JSON.
    Json,
}

impl ImplementationLog {
    /// The seed log's markdown.
    pub fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    /// The model as pretty JSON.
    pub fn to_json(&self) -> String {
        json::render(self)
    }

    /// Render in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Md => self.to_markdown(),
            ReportFormat::Json => self.to_json(),
        }
    }
}
