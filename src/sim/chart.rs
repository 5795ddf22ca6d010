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
    time_axis(svg, minutes, y0 + height + 16.0, &x);
    panel_lines(svg, lines, plot_width as usize, y0, &x, &y);
}

/// Labels along the bottom at `label_y`: hours, every six hours, or days,
/// as the span calls for.
fn time_axis(svg: &mut String, minutes: usize, label_y: f64, x: &dyn Fn(usize) -> f64) {
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
            label_y
        );
        m += step_minutes;
    }
}

/// Each line, at most one point per pixel column (its highest value), with
/// its legend.
fn panel_lines(
    svg: &mut String,
    lines: &[Line<'_>],
    buckets: usize,
    y0: f64,
    x: &dyn Fn(usize) -> f64,
    y: &dyn Fn(f64) -> f64,
) {
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

/// A chart of `tune`'s frontiers: for each family, the settings no other
/// of it beats, as cost a day against the throttled share (log scale,
/// from 0.001%; none throttled is drawn there), and the objective as a
/// dashed line.
pub(crate) fn frontiers(
    title: &str,
    families: &[(String, Vec<(f64, f64)>)],
    objective: f64,
) -> String {
    const HEIGHT: f64 = 420.0;
    const TOP: f64 = 50.0;
    const LOWEST: f64 = -3.0; // log10 of 0.001 (percent)
    const HIGHEST: f64 = 2.0; // log10 of 100 (percent)
    let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let max = nice_max(
        families
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .fold(0.0, f64::max),
    );
    let x = |share: f64| {
        let pct = (share * 100.0).max(10f64.powf(LOWEST));
        MARGIN_LEFT + plot_width * (pct.log10().min(HIGHEST) - LOWEST) / (HIGHEST - LOWEST)
    };
    let y = |cost: f64| TOP + HEIGHT - HEIGHT * cost / max;
    let mut svg = String::new();
    let total = TOP + HEIGHT + 50.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{total}" viewBox="0 0 {WIDTH} {total}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{MARGIN_LEFT}" y="20" font-size="16">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{MARGIN_LEFT}" y="{TOP}" width="{plot_width}" height="{HEIGHT}" fill="none" stroke="#999"/>"##
    );
    frontier_axes(&mut svg, (plot_width, HEIGHT, TOP), max, &x, &y);
    let ox = x(objective);
    let _ = writeln!(
        svg,
        r##"<line x1="{ox:.1}" x2="{ox:.1}" y1="{TOP}" y2="{}" stroke="#444" stroke-dasharray="5,3"/><text x="{:.1}" y="{}" font-size="11">objective</text>"##,
        TOP + HEIGHT,
        ox + 4.0,
        TOP + 14.0
    );
    frontier_series(&mut svg, families, TOP, &x, &y);
    svg.push_str("</svg>\n");
    svg
}

/// The frontier chart's grid and axis labels: cost on the left (`max` at
/// the top), the throttled share along the bottom on a log scale.
fn frontier_axes(
    svg: &mut String,
    (plot_width, height, top): (f64, f64, f64),
    max: f64,
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(f64) -> f64,
) {
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">${v:.2}</text>"##,
            MARGIN_LEFT + plot_width,
            MARGIN_LEFT - 6.0,
            y(v) + 4.0,
            yy = y(v),
        );
    }
    for exp in -3..=2 {
        let pct = 10f64.powi(exp);
        let xx = x(pct / 100.0);
        let label = if exp < 0 {
            format!("{pct:.*}%", (-exp) as usize)
        } else {
            format!("{pct:.0}%")
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{}" stroke="#eee"/><text x="{xx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{label}</text>"##,
            top + height,
            top + height + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">throttled writes (0 drawn at 0.001%)</text>"#,
        MARGIN_LEFT + plot_width / 2.0,
        top + height + 34.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{:.1}" font-size="11" transform="rotate(-90 14 {:.1})" text-anchor="middle">cost a day</text>"#,
        top + height / 2.0,
        top + height / 2.0
    );
}

/// Each family's frontier, as points joined by a line, and its legend.
fn frontier_series(
    svg: &mut String,
    families: &[(String, Vec<(f64, f64)>)],
    top: f64,
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(f64) -> f64,
) {
    for (i, (name, points)) in families.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut d = String::new();
        for (j, (cost, share)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if j == 0 { "M" } else { "L" },
                x(*share),
                y(*cost)
            );
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x(*share),
                y(*cost)
            );
        }
        let _ = writeln!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
        );
        let ly = top + 14.0 + 16.0 * i as f64;
        let lx = WIDTH - MARGIN_RIGHT + 12.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}" font-size="11">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
            escape(name),
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_frontier_chart_draws_each_family_with_its_points_and_the_objective() {
        let families = vec![
            ("planner".to_owned(), vec![(1.0, 0.01), (2.0, 0.0)]),
            ("uniform".to_owned(), vec![(0.5, 0.2)]),
        ];
        let svg = super::frontiers("a <test>", &families, 0.001);
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle ").count(), 3);
        assert!(svg.contains(">planner</text>") && svg.contains(">uniform</text>"));
        assert!(svg.contains("a &lt;test&gt;"));
        assert!(svg.contains(">objective</text>"));
        // The axis runs from 0.001% to 100% of writes throttled.
        assert!(svg.contains(">0.001%</text>") && svg.contains(">100%</text>"));
    }
}
