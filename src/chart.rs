//! Bar charts as SVG, drawn on the server for the health page: grouped bars
//! per month, a scale, a legend and an optional target line; no fonts to
//! load and no script. Every label is escaped here; the page puts a table
//! of the same numbers beside each chart for screen readers.

use std::fmt::Write as _;

/// One series of bars: a name for the legend and a value per label (none
/// where there is nothing to show).
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// One value per label.
    pub values: Vec<Option<f64>>,
}

/// A line across the chart at a value (a target), with its name.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where the line is drawn.
    pub value: f64,
    /// What it is, in the legend.
    pub name: String,
}

/// The drawing's size and margins (SVG user units).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 28.0;
/// Fill colours of the series in order (dark enough on white for 3:1).
const COLOURS: [&str; 3] = ["#1f5f99", "#b35900", "#2e7d32"];

/// Text for SVG: `&`, `<`, `>` and quotes escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as a scale shows it: whole numbers plain, else one decimal.
fn tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The top of the scale: a round number at or above `max`, in four steps
/// of at least 1 (most figures are counts).
fn scale_top(max: f64) -> f64 {
    let step = (max / 4.0).max(1.0);
    let magnitude = 10f64.powf(step.log10().floor());
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= step)
        .unwrap_or(step);
    nice * 4.0
}

/// A grouped bar chart titled `title` (the SVG's accessible name; `id`
/// makes its element ids unique on the page) of `series` over `labels`.
pub fn bars(
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
    target: Option<&Target>,
) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .chain(target.map(|t| t.value))
        .fold(0.0, f64::max);
    let top = scale_top(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h - v / top * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
    // The scale: four steps, lines and numbers.
    for i in 0..=4 {
        let v = top / 4.0 * f64::from(i);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d0d0"/><text x="{}" y="{:.1}" text-anchor="end" font-size="11" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            tick(v),
            y = y(v)
        );
    }
    // The bars, grouped by label.
    let n = labels.len().max(1) as f64;
    let group = plot_w / n;
    let bar = (group * 0.8) / series.len().max(1) as f64;
    for (i, label) in labels.iter().enumerate() {
        let x0 = LEFT + group * i as f64 + group * 0.1;
        for (k, s) in series.iter().enumerate() {
            if let Some(v) = s.values.get(i).copied().flatten() {
                let _ = write!(
                    svg,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                    x0 + bar * k as f64,
                    y(v),
                    (bar - 1.0).max(1.0),
                    (TOP + plot_h - y(v)).max(0.0),
                    COLOURS[k % COLOURS.len()]
                );
            }
        }
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="11" fill="#333">{}</text>"##,
            LEFT + group * i as f64 + group / 2.0,
            HEIGHT - 10.0,
            escape(label)
        );
    }
    // The target, and the legend along the top.
    let mut x = LEFT;
    for (k, s) in series.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="8" width="10" height="10" fill="{}"/><text x="{}" y="17" font-size="11" fill="#333">{}</text>"##,
            COLOURS[k % COLOURS.len()],
            x + 14.0,
            escape(&s.name)
        );
        x += 24.0 + 7.0 * s.name.chars().count() as f64;
    }
    if let Some(t) = target {
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#a00" stroke-dasharray="4 3"/><line x1="{x}" x2="{}" y1="13" y2="13" stroke="#a00" stroke-dasharray="4 3"/><text x="{}" y="17" font-size="11" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            x + 14.0,
            x + 18.0,
            escape(&t.name),
            y = y(t.value)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_round_and_covers_the_largest_value() {
        assert_eq!(scale_top(0.0), 4.0);
        assert_eq!(scale_top(3.0), 4.0);
        assert_eq!(scale_top(7.0), 8.0);
        assert_eq!(scale_top(10.0), 10.0);
        assert_eq!(scale_top(37.0), 40.0);
        assert_eq!(scale_top(130.0), 200.0);
    }

    #[test]
    fn bars_are_as_tall_as_their_values_and_labels_are_escaped() {
        let svg = bars(
            "q",
            "Queries <asked>",
            &["Oct".into(), "Nov & Dec".into()],
            &[Series {
                name: "asked".into(),
                values: vec![Some(2.0), None],
            }],
            Some(&Target {
                value: 4.0,
                name: "target".into(),
            }),
        );
        assert!(
            svg.contains("<title id=\"q-title\">Queries &lt;asked&gt;</title>"),
            "{svg}"
        );
        assert!(svg.contains(">Nov &amp; Dec</text>"), "{svg}");
        // Scale 0–4 over 184 units: a bar of 2 is 92 high; the missing one is not drawn.
        assert_eq!(
            svg.matches("<rect").count(),
            2,
            "one bar and the legend's swatch: {svg}"
        );
        assert!(svg.contains("height=\"92.0\""), "{svg}");
        assert!(!svg.contains("<script"));
    }
}
