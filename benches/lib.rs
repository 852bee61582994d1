//! Shared setup for the criterion benches in this folder.

pub mod scale;

/// Criterion as every bench here runs it: with its HTML plots when the plots' font is there
/// (the workspace's plotters draws text through `ab_glyph`, which knows no system fonts), and
/// without them, saying why, when it is not.
pub fn criterion() -> criterion::Criterion {
    match scale::plot::register_fonts() {
        Ok(()) => criterion::Criterion::default(),
        Err(e) => {
            eprintln!("benches: criterion's plots are off: {e}");
            criterion::Criterion::default().without_plots()
        }
    }
}
