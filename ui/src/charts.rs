//! SVG charts over labelled points: vertical bars, horizontal bars for rankings, and a line with its area; axis labels and hover tooltips (`<title>`).
//!
//! The geometry (rounded axis tops, tick values, label thinning, paths) is
//! pure and unit-tested; the components only lay it out. Column and line
//! charts are always drawn left to right (`direction: ltr`): their labels are
//! data (dates, numbers), and SVG text anchors would otherwise flip in
//! Arabic. Ranking rows follow the page's direction.

use leptos::prelude::*;

/// One labelled value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Written under the axis (short: a day number, a model id).
    pub label: String,
    /// The name in the tooltip (long: the full date).
    pub hint: String,
    pub value: f64,
}

impl Point {
    pub fn new(label: impl Into<String>, value: f64) -> Point {
        let label = label.into();
        Point {
            hint: label.clone(),
            label,
            value,
        }
    }

    /// A point whose tooltip names it differently from its axis label.
    pub fn with_hint(label: impl Into<String>, hint: impl Into<String>, value: f64) -> Point {
        Point {
            label: label.into(),
            hint: hint.into(),
            value,
        }
    }
}

/// A step of 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let exponent = raw.log10().floor() as i32;
    // Dividing by an exact power of ten keeps 0.002 exactly 0.002.
    let of_base = |n: f64| {
        if exponent < 0 {
            n / 10f64.powi(-exponent)
        } else {
            n * 10f64.powi(exponent)
        }
    };
    let fraction = raw / of_base(1.0);
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 2.5 {
        2.5
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    of_base(nice)
}

/// The y axis values from 0 up to a round top at or above `max`, about
/// `intervals` steps apart. With `integer`, steps are whole numbers (counts).
pub fn ticks(max: f64, intervals: usize, integer: bool) -> Vec<f64> {
    let intervals = intervals.max(1);
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let mut step = nice_step(max / intervals as f64);
    if integer && step < 1.0 {
        step = 1.0;
    }
    let steps = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=steps)
        .map(|i| round_to_step(i as f64 * step, step))
        .collect()
}

/// `value` without the float noise of `i * step` (0.30000000000000004).
fn round_to_step(value: f64, step: f64) -> f64 {
    let decimals = (-step.log10().floor()).max(0.0) as i32 + 2;
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

/// Shows every n-th label so that at most `room` fit under the axis.
pub fn label_stride(count: usize, room: usize) -> usize {
    if room == 0 {
        return count.max(1);
    }
    count.div_ceil(room).max(1)
}

/// `label` cut to `max_chars` characters with an ellipsis.
pub fn short_label(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        return label.to_owned();
    }
    let kept: String = label.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// The height of `value` on an axis whose top is `top`, for a plot `length` tall.
pub fn scale(value: f64, top: f64, length: f64) -> f64 {
    if top <= 0.0 || !value.is_finite() {
        return 0.0;
    }
    (value.max(0.0) / top).min(1.0) * length
}

/// An SVG path through `points` (`M x y L x y …`).
pub fn line_path(points: &[(f64, f64)]) -> String {
    let mut path = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        if i > 0 {
            path.push(' ');
        }
        path.push_str(&format!("{}{x:.1} {y:.1}", if i == 0 { 'M' } else { 'L' }));
    }
    path
}

/// The closed area under `points` down to the line `y = base`.
pub fn area_path(points: &[(f64, f64)], base: f64) -> String {
    match (points.first(), points.last()) {
        (Some((first, _)), Some((last, _))) => format!(
            "{} L{last:.1} {base:.1} L{first:.1} {base:.1} Z",
            line_path(points)
        ),
        _ => String::new(),
    }
}

/// The x of each of `count` points spread over `[start, start + width]`
/// (a single point sits in the middle).
pub fn spread(count: usize, start: f64, width: f64) -> Vec<f64> {
    match count {
        0 => Vec::new(),
        1 => vec![start + width / 2.0],
        n => (0..n)
            .map(|i| start + width * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// The largest value of a series.
pub fn max_value(points: &[Point]) -> f64 {
    points
        .iter()
        .map(|p| p.value)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

/// Whether a series has nothing to draw (no points, or all zero).
pub fn is_blank(points: &[Point]) -> bool {
    max_value(points) <= 0.0
}

// The drawing box of the column and line charts, in viewBox units; the SVG
// scales to its container's width.
const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 250.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;
/// Roughly how wide one x-axis label is, to decide how many fit.
const LABEL_ROOM: f64 = 42.0;

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn baseline() -> f64 {
    HEIGHT - BOTTOM
}

/// Grid lines and value labels of the y axis, and the x axis line.
fn y_axis(ticks: &[f64], format: fn(f64) -> String) -> impl IntoView + use<> {
    let top = ticks.last().copied().unwrap_or(1.0);
    let lines = ticks
        .iter()
        .map(|&value| {
            let y = baseline() - scale(value, top, plot_height());
            view! {
                <g>
                    <line class="grid-line" x1=LEFT x2=WIDTH - RIGHT y1=y y2=y></line>
                    <text x=LEFT - 8.0 y=y + 3.5 text-anchor="end">{format(value)}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <g class="y-axis">
            {lines}
            <line class="axis" x1=LEFT x2=WIDTH - RIGHT y1=baseline() y2=baseline()></line>
        </g>
    }
}

/// Labels under the x axis at `xs`, thinned so they do not overlap.
fn x_labels(points: &[Point], xs: &[f64]) -> impl IntoView + use<> {
    let stride = label_stride(points.len(), (plot_width() / LABEL_ROOM) as usize);
    points
        .iter()
        .zip(xs)
        .enumerate()
        .filter(|(i, _)| i % stride == 0)
        .map(|(_, (point, &x))| {
            view! {
                <g>
                    <text x=x y=HEIGHT - 8.0 text-anchor="middle">{short_label(&point.label, 8)}</text>
                </g>
            }
        })
        .collect_view()
}

/// Vertical bars, one per point (days of a month).
#[component]
pub fn BarChart(
    points: Vec<Point>,
    /// Writes a value (axis labels and tooltips).
    format: fn(f64) -> String,
    /// Whole-number axis steps (counts).
    #[prop(optional)]
    integer: bool,
    /// What the chart shows, for screen readers.
    #[prop(into)]
    label: String,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let ticks = ticks(max_value(&points), 4, integer);
    let top = ticks.last().copied().unwrap_or(1.0);
    let band = plot_width() / points.len().max(1) as f64;
    let bar_width = (band * 0.7).max(1.0);
    let centers: Vec<f64> = (0..points.len())
        .map(|i| LEFT + band * (i as f64 + 0.5))
        .collect();
    let bars = points
        .iter()
        .zip(&centers)
        .map(|(point, &center)| {
            let mut height = scale(point.value, top, plot_height());
            if point.value > 0.0 {
                // A tiny non-zero value stays visible.
                height = height.max(1.5);
            }
            let tip = format!("{}: {}", point.hint, format(point.value));
            view! {
                <g class="bar-group">
                    <title>{tip}</title>
                    <rect class="hit" x=center - band / 2.0 y=TOP width=band height=plot_height()></rect>
                    <rect
                        class="series"
                        x=center - bar_width / 2.0
                        y=baseline() - height
                        width=bar_width
                        height=height
                        rx=2
                    ></rect>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg
            class="chart chart-bars"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img"
            aria-label=label
            data-testid=testid
        >
            {y_axis(&ticks, format)}
            {bars}
            {x_labels(&points, &centers)}
        </svg>
    }
}

/// A line with the area under it, one point per x (days of a month).
#[component]
pub fn AreaChart(
    points: Vec<Point>,
    format: fn(f64) -> String,
    #[prop(optional)] integer: bool,
    #[prop(into)] label: String,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let ticks = ticks(max_value(&points), 4, integer);
    let top = ticks.last().copied().unwrap_or(1.0);
    // Inset by half a band so the first and last dots are not on the frame.
    let inset = (plot_width() / points.len().max(1) as f64 / 2.0).min(16.0);
    let xs = spread(points.len(), LEFT + inset, plot_width() - 2.0 * inset);
    let coords: Vec<(f64, f64)> = points
        .iter()
        .zip(&xs)
        .map(|(p, &x)| (x, baseline() - scale(p.value, top, plot_height())))
        .collect();
    let hit_width = if points.len() > 1 {
        (plot_width() - 2.0 * inset) / (points.len() - 1) as f64
    } else {
        plot_width()
    };
    let dots = points
        .iter()
        .zip(&coords)
        .map(|(point, &(x, y))| {
            let tip = format!("{}: {}", point.hint, format(point.value));
            view! {
                <g class="dot-group">
                    <title>{tip}</title>
                    <rect class="hit" x=x - hit_width / 2.0 y=TOP width=hit_width height=plot_height()></rect>
                    <circle class="dot" cx=x cy=y r=3></circle>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg
            class="chart chart-area"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img"
            aria-label=label
            data-testid=testid
        >
            {y_axis(&ticks, format)}
            <path class="area" d=area_path(&coords, baseline())></path>
            <path class="line" d=line_path(&coords)></path>
            {dots}
            {x_labels(&points, &xs)}
        </svg>
    }
}

/// The share of `top` that `value` fills, in percent (0..=100), for ranking bars.
pub fn percent_of(value: f64, top: f64) -> f64 {
    scale(value, top, 100.0)
}

/// Horizontal bars, in the order given (biggest first), for rankings
/// (models, providers). Rows are HTML so their labels keep the text size
/// and follow the page's direction; each bar is a small SVG that stretches.
#[component]
pub fn RankChart(
    points: Vec<Point>,
    format: fn(f64) -> String,
    #[prop(into)] label: String,
    #[prop(optional, into)] testid: String,
) -> impl IntoView {
    let top = max_value(&points);
    let rows = points
        .iter()
        .map(|point| {
            let mut width = percent_of(point.value, top);
            if point.value > 0.0 {
                width = width.max(0.5);
            }
            let tip = format!("{}: {}", point.hint, format(point.value));
            let row_tip = tip.clone();
            view! {
                <div class="rank-row" title=row_tip>
                    <span class="rank-label">{short_label(&point.label, 40)}</span>
                    <svg class="rank-bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                        <g>
                            <title>{tip}</title>
                            <rect class="track" x=0 y=0 width=100 height=10></rect>
                            <rect class="series" x=0 y=0 width=width height=10></rect>
                        </g>
                    </svg>
                    <span class="rank-value">{format(point.value)}</span>
                </div>
            }
        })
        .collect_view();
    view! {
        <div class="rank-chart" role="img" aria-label=label data-testid=testid>
            {rows}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round_numbers_at_least_as_big() {
        assert_eq!(nice_step(1.75), 2.0);
        assert_eq!(nice_step(308.5), 500.0);
        assert_eq!(nice_step(0.00105), 0.002);
        assert_eq!(nice_step(2.2), 2.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(100.0), 100.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn ticks_start_at_zero_and_end_at_or_above_the_max() {
        assert_eq!(ticks(7.0, 4, true), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(ticks(1234.0, 4, true), vec![0.0, 500.0, 1000.0, 1500.0]);
        assert_eq!(ticks(0.0042, 4, false), vec![0.0, 0.002, 0.004, 0.006]);
        assert_eq!(ticks(8.0, 4, true), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        // Counts never get fractional steps; an empty chart still has an axis.
        assert_eq!(ticks(2.0, 4, true), vec![0.0, 1.0, 2.0]);
        assert_eq!(ticks(0.0, 4, true), vec![0.0, 1.0]);
        assert_eq!(ticks(0.0, 4, false), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let cents = ticks(0.3, 3, false);
        assert_eq!(cents, vec![0.0, 0.1, 0.2, 0.3]);
    }

    #[test]
    fn labels_thin_out_to_fit() {
        assert_eq!(label_stride(30, 13), 3);
        assert_eq!(label_stride(10, 13), 1);
        assert_eq!(label_stride(0, 13), 1);
        assert_eq!(label_stride(5, 0), 5);
    }

    #[test]
    fn long_labels_get_an_ellipsis() {
        assert_eq!(short_label("gpt-4.1", 8), "gpt-4.1");
        assert_eq!(short_label("claude-sonnet-4-5", 8), "claude-…");
        assert_eq!(short_label("模型名称很长很长", 4), "模型名…");
    }

    #[test]
    fn values_scale_into_the_plot_and_clamp() {
        assert_eq!(scale(5.0, 10.0, 100.0), 50.0);
        assert_eq!(scale(20.0, 10.0, 100.0), 100.0);
        assert_eq!(scale(-3.0, 10.0, 100.0), 0.0);
        assert_eq!(scale(5.0, 0.0, 100.0), 0.0);
        assert_eq!(scale(f64::NAN, 10.0, 100.0), 0.0);
        assert_eq!(percent_of(3.0, 12.0), 25.0);
        assert_eq!(percent_of(3.0, 0.0), 0.0);
    }

    #[test]
    fn paths_join_the_points_and_close_the_area() {
        let points = [(10.0, 50.0), (20.0, 25.5), (30.0, 40.0)];
        assert_eq!(line_path(&points), "M10.0 50.0 L20.0 25.5 L30.0 40.0");
        assert_eq!(
            area_path(&points, 60.0),
            "M10.0 50.0 L20.0 25.5 L30.0 40.0 L30.0 60.0 L10.0 60.0 Z"
        );
        assert_eq!(area_path(&[], 60.0), "");
        assert_eq!(line_path(&[]), "");
    }

    #[test]
    fn points_spread_evenly_and_a_single_one_is_centred() {
        assert_eq!(spread(3, 10.0, 100.0), vec![10.0, 60.0, 110.0]);
        assert_eq!(spread(1, 10.0, 100.0), vec![60.0]);
        assert!(spread(0, 10.0, 100.0).is_empty());
    }

    #[test]
    fn a_series_of_zeros_is_blank() {
        assert!(is_blank(&[]));
        assert!(is_blank(&[Point::new("a", 0.0), Point::new("b", 0.0)]));
        assert!(!is_blank(&[Point::new("a", 0.0), Point::new("b", 0.5)]));
        assert_eq!(
            max_value(&[Point::new("a", 3.0), Point::new("b", f64::NAN)]),
            3.0
        );
        let p = Point::with_hint("5", "2026-11-05", 1.0);
        assert_eq!((p.label.as_str(), p.hint.as_str()), ("5", "2026-11-05"));
    }
}
