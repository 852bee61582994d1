//! The scaling plot: each measurement's median time against the rows it reads, log-log, one
//! line per measurement, as a PNG.

use std::path::Path;

use plotters::prelude::*;

use super::SizeResult;

/// Where the plot's font is looked for (DejaVu Sans, Debian's `fonts-dejavu-core`), unless
/// `SCALE_FONT` names another TrueType file.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Register the font every plot of this process draws text with (the scale plot's, and
/// criterion's own: the `ab_glyph` text backend has no system fonts), once; the error says why
/// there is none.
pub fn register_fonts() -> Result<(), String> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = std::env::var("SCALE_FONT").unwrap_or_else(|_| DEFAULT_FONT.to_string());
            let bytes = std::fs::read(&path).map_err(|e| {
                format!("no font for plot labels at {path} ({e}); set SCALE_FONT to a .ttf file")
            })?;
            // plotters keeps registered fonts for the process's life.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            for family in ["sans-serif", "serif", "monospace"] {
                for style in [
                    FontStyle::Normal,
                    FontStyle::Bold,
                    FontStyle::Italic,
                    FontStyle::Oblique,
                ] {
                    plotters::style::register_font(family, style, bytes)
                        .map_err(|_| format!("{path} is not a TrueType font plotters can read"))?;
                }
            }
            Ok(())
        })
        .clone()
}

/// Draw `results` to `path` (PNG, 1200 x 800). Measurements with fewer than two sizes are left
/// out; the floor of each check is not drawn (its ratio is in the table).
pub fn draw(results: &[SizeResult], path: &Path) -> Result<(), String> {
    register_fonts()?;
    let mut names: Vec<String> = Vec::new();
    for r in results {
        for m in &r.measurements {
            if !names.contains(&m.name) {
                names.push(m.name.clone());
            }
        }
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = names
        .into_iter()
        .map(|name| {
            let pts: Vec<(f64, f64)> = results
                .iter()
                .filter_map(|r| r.get(&name))
                .filter(|m| m.rows > 0 && m.median_ms() > 0.0)
                .map(|m| (m.rows as f64, m.median_ms() / 1e3))
                .collect();
            (name, pts)
        })
        .filter(|(_, pts)| pts.len() >= 2)
        .collect();
    if series.is_empty() {
        return Err("nothing to plot: no measurement has two sizes yet".to_string());
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (_, pts) in &series {
        for (x, y) in pts {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
            y0 = y0.min(*y);
            y1 = y1.max(*y);
        }
    }
    let err = |e: &dyn std::fmt::Display| format!("plot {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Validation queries: median time against rows read (log-log)",
            ("sans-serif", 26),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((x0 / 1.5)..(x1 * 1.5)).log_scale(),
            ((y0 / 1.5)..(y1 * 1.5)).log_scale(),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("rows read")
        .y_desc("seconds")
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
