//! An SVG chart of a simulation: offered load against capacity and the
//! open shards over time on top, throttled records below, one line per
//! strategy. Plain SVG written by hand: no fonts or native libraries.

use std::fmt::Write;

use super::strategy::{Outcome, offered_shards};

const WIDTH: f64 = 1100.0;
const TOP_HEIGHT: f64 = 360.0;
const BOTTOM_HEIGHT: f64 = 180.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 170.0;
const GAP: f64 = 60.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// One line: a name, a colour and a value per minute.
struct Line<'a> {
    name: String,
    color: &'a str,
    values: Vec<f64>,
    dashed: bool,
}

/// Downsamples to at most `points` buckets, keeping each bucket's maximum
/// (peaks matter more than averages when judging throttling).
fn bucket_max(values: &[f64], points: usize) -> Vec<(usize, f64)> {
    let size = values.len().div_ceil(points.max(1)).max(1);
    values
        .chunks(size)
        .enumerate()
        .map(|(i, c)| (i * size, c.iter().copied().fold(0.0, f64::max)))
        .collect()
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn panel(
    svg: &mut String,
    title: &str,
    y0: f64,
    height: f64,
    minutes: usize,
    lines: &[Line<'_>],
    unit: &str,
) {
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let max = nice_max(
        lines
            .iter()
            .flat_map(|l| l.values.iter().copied())
            .fold(0.0, f64::max),
    );
    let x = |m: usize| MARGIN_LEFT + plot_width * m as f64 / minutes.max(1) as f64;
    let y = |v: f64| y0 + height - height * v / max;
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN_LEFT}" y="{}" font-size="14" font-weight="bold">{title}</text>"#,
        y0 - 8.0
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{MARGIN_LEFT}" y="{y0}" width="{plot_width}" height="{height}" fill="none" stroke="#999"/>"##
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            MARGIN_LEFT + plot_width,
            MARGIN_LEFT - 6.0,
            y(v) + 4.0,
            if max >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            },
            yy = y(v),
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{:.1}" font-size="11" transform="rotate(-90 14 {:.1})" text-anchor="middle">{unit}</text>"#,
        y0 + height / 2.0,
        y0 + height / 2.0
    );
    let days = minutes as f64 / 1440.0;
    let step_minutes = if days > 2.0 {
        1440
    } else if days > 0.5 {
        360
    } else {
        60
    };
    let mut m = 0;
    while m <= minutes {
        let label = if step_minutes == 1440 {
            format!("day {}", m / 1440)
        } else {
            format!("{}h", m / 60)
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{label}</text>"#,
            x(m),
            y0 + height + 16.0
        );
        m += step_minutes;
    }
    let buckets = plot_width as usize;
    for (i, line) in lines.iter().enumerate() {
        let mut d = String::new();
        for (j, (m, v)) in bucket_max(&line.values, buckets).into_iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if j == 0 { "M" } else { "L" },
                x(m),
                y(v)
            );
        }
        let dash = if line.dashed {
            r#" stroke-dasharray="5,3""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="1.3"{dash}/>"#,
            line.color
        );
        let ly = y0 + 14.0 + 16.0 * i as f64;
        let lx = WIDTH - MARGIN_RIGHT + 12.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}" font-size="11">{}</text>"#,
            lx + 18.0,
            line.color,
            lx + 24.0,
            ly + 4.0,
            line.name,
        );
    }
}

/// The chart of one or more runs over the same traffic, and the dyadic
/// oracle's shards for reference.
pub(crate) fn render(title: &str, outcomes: &[Outcome], oracle_shards: &[u32]) -> String {
    let minutes = outcomes.first().map_or(0, |o| o.minutes.len());
    let mut svg = String::new();
    let height = 40.0 + TOP_HEIGHT + GAP + BOTTOM_HEIGHT + 40.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN_LEFT}" y="20" font-size="16">{}</text>"#,
        escape(title)
    );
    let mut top = vec![Line {
        name: "offered load".into(),
        color: "#444",
        values: outcomes
            .first()
            .map_or_else(Vec::new, |o| o.minutes.iter().map(offered_shards).collect()),
        dashed: false,
    }];
    top.push(Line {
        name: "dyadic oracle".into(),
        color: "#999",
        values: oracle_shards.iter().map(|&n| f64::from(n)).collect(),
        dashed: true,
    });
    let mut bottom = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        top.push(Line {
            name: format!("{} shards", o.summary.strategy),
            color,
            values: o.minutes.iter().map(|m| f64::from(m.open_shards)).collect(),
            dashed: false,
        });
        bottom.push(Line {
            name: o.summary.strategy.clone(),
            color,
            values: o.minutes.iter().map(|m| m.throttled_records).collect(),
            dashed: false,
        });
    }
    panel(
        &mut svg,
        "offered load and capacity (shards)",
        50.0,
        TOP_HEIGHT,
        minutes,
        &top,
        "shards",
    );
    panel(
        &mut svg,
        "throttled records per minute",
        50.0 + TOP_HEIGHT + GAP,
        BOTTOM_HEIGHT,
        minutes,
        &bottom,
        "records",
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
