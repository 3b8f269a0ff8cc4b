// SPDX-License-Identifier: Apache-2.0
//! Comparison reports: Markdown for terminals and pull requests, one self-contained HTML page
//! (inline CSS and SVG, nothing fetched, works offline), and JSON for machines.

use std::fmt::Write as _;

use crate::metrics::MetricSummary;

/// One algorithm's result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReportRow {
    pub algorithm: String,
    pub params: serde_json::Value,
    pub fit_seconds: f64,
    pub recommend_seconds: f64,
    pub metrics: MetricSummary,
}

/// Several algorithms evaluated on one dataset and split.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub title: String,
    pub dataset: String,
    /// How the data was split, e.g. [`crate::SplitStrategy::describe`].
    pub split: String,
    pub train_events: usize,
    pub test_events: usize,
    pub rows: Vec<ReportRow>,
}

/// Escapes the five HTML-significant characters, for text and attribute values alike.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Makes a string safe inside one Markdown line or table cell: no column breaks, no raw
/// HTML, no entities, no line breaks.
fn escape_md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A Markdown code span that survives backticks in `s`.
fn md_code(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let s = s.replace(['\n', '\r'], " ");
    if s.starts_with('`') || s.ends_with('`') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

const METRIC_DECIMALS: usize = 4;
const SECONDS_DECIMALS: usize = 3;

fn metric(v: f64) -> String {
    format!("{v:.METRIC_DECIMALS$}")
}

fn seconds(v: f64) -> String {
    format!("{v:.SECONDS_DECIMALS$}")
}

fn has_params(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Object(map) => !map.is_empty(),
        serde_json::Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

/// The four accuracy metrics drawn in the chart, with their colours (Okabe–Ito palette,
/// distinguishable with the common colour-vision deficiencies).
const CHART_SERIES: [(&str, &str); 4] = [
    ("P", "#0072B2"),
    ("R", "#E69F00"),
    ("NDCG", "#009E73"),
    ("MAP", "#CC79A7"),
];

fn chart_values(m: &MetricSummary) -> [f64; 4] {
    [m.precision, m.recall, m.ndcg, m.map]
}

impl Report {
    /// The K shared by every row, or `None` when rows differ (each row then shows its own).
    fn common_k(&self) -> Option<usize> {
        let first = self.rows.first()?.metrics.k;
        self.rows
            .iter()
            .all(|r| r.metrics.k == first)
            .then_some(first)
    }

    fn k_label(&self) -> String {
        self.common_k()
            .map_or_else(|| "K".to_string(), |k| k.to_string())
    }

    /// The algorithm name, with its K when the rows do not share one.
    fn row_label(&self, row: &ReportRow) -> String {
        match self.common_k() {
            Some(_) => row.algorithm.clone(),
            None => format!("{} (k={})", row.algorithm, row.metrics.k),
        }
    }

    fn headers(&self) -> Vec<String> {
        let k = self.k_label();
        let mut headers = vec!["algorithm".to_string()];
        for name in ["P", "R", "NDCG", "MAP", "HR"] {
            headers.push(format!("{name}@{k}"));
        }
        for name in ["coverage", "novelty", "diversity", "fit s", "recommend s"] {
            headers.push(name.to_string());
        }
        headers
    }

    /// The numeric cells of a row, in header order after the algorithm.
    fn cells(row: &ReportRow) -> Vec<String> {
        let m = &row.metrics;
        vec![
            metric(m.precision),
            metric(m.recall),
            metric(m.ndcg),
            metric(m.map),
            metric(m.hit_rate),
            metric(m.coverage),
            metric(m.novelty),
            m.diversity.map_or_else(|| "n/a".to_string(), metric),
            seconds(row.fit_seconds),
            seconds(row.recommend_seconds),
        ]
    }

    fn summary_line(&self) -> String {
        format!(
            "dataset: {} · split: {} · train events: {} · test events: {}",
            self.dataset, self.split, self.train_events, self.test_events
        )
    }

    /// A Markdown document: heading, one line about the data, the metrics table, and the
    /// parameters of each algorithm.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", escape_md(&self.title));
        let _ = writeln!(out, "{}\n", escape_md(&self.summary_line()));
        if self.rows.is_empty() {
            out.push_str("_No results._\n");
            return out;
        }
        let headers = self.headers();
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let align: Vec<&str> = headers
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { ":---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", align.join(" | "));
        for row in &self.rows {
            let mut cells = vec![escape_md(&self.row_label(row))];
            cells.extend(Self::cells(row));
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if self.rows.iter().any(|r| has_params(&r.params)) {
            out.push_str("\nParameters:\n\n");
            for row in self.rows.iter().filter(|r| has_params(&r.params)) {
                let _ = writeln!(
                    out,
                    "- {}: {}",
                    md_code(&row.algorithm),
                    md_code(&row.params.to_string())
                );
            }
        }
        out
    }

    /// Pretty-printed JSON of the whole report.
    pub fn to_json(&self) -> String {
        // Plain structs and a `serde_json::Value` (string keys only) cannot fail to serialize;
        // non-finite floats become `null`.
        serde_json::to_string_pretty(self).expect("a report always serializes to JSON")
    }

    /// One self-contained HTML page: no scripts, no external fonts or stylesheets.
    /// Every string that came from the caller is escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let title = escape_html(&self.title);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n\
             <h1>{title}</h1>\n"
        );
        let _ = writeln!(
            out,
            "<p class=\"meta\">dataset: <strong>{}</strong> · split: {} · train events: {} · test events: {}</p>",
            escape_html(&self.dataset),
            escape_html(&self.split),
            self.train_events,
            self.test_events
        );
        if self.rows.is_empty() {
            out.push_str("<p>No results.</p>\n</main>\n</body>\n</html>\n");
            return out;
        }
        self.html_table(&mut out);
        self.svg_chart(&mut out);
        self.html_params(&mut out);
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }

    fn html_table(&self, out: &mut String) {
        out.push_str("<table>\n<thead><tr>");
        for (i, h) in self.headers().iter().enumerate() {
            let class = if i == 0 { "" } else { " class=\"num\"" };
            let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", escape_html(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th>",
                escape_html(&self.row_label(row))
            );
            for cell in Self::cells(row) {
                let _ = write!(out, "<td class=\"num\">{}</td>", escape_html(&cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }

    fn html_params(&self, out: &mut String) {
        let rows: Vec<&ReportRow> = self.rows.iter().filter(|r| has_params(&r.params)).collect();
        if rows.is_empty() {
            return;
        }
        out.push_str("<h2>Parameters</h2>\n<dl class=\"params\">\n");
        for row in rows {
            let _ = writeln!(
                out,
                "<dt>{}</dt><dd><code>{}</code></dd>",
                escape_html(&row.algorithm),
                escape_html(&row.params.to_string())
            );
        }
        out.push_str("</dl>\n");
    }

    /// A grouped bar chart of P/R/NDCG/MAP per algorithm, as inline SVG.
    fn svg_chart(&self, out: &mut String) {
        const BAR: f64 = 16.0;
        const BAR_GAP: f64 = 2.0;
        const GROUP_PAD: f64 = 36.0;
        const LEFT: f64 = 60.0;
        const RIGHT: f64 = 16.0;
        const TOP: f64 = 40.0;
        const PLOT_H: f64 = 220.0;
        const BOTTOM: f64 = 56.0;
        const LABEL_CHARS: usize = 12;

        let series = CHART_SERIES.len() as f64;
        let group_w = series * BAR + (series - 1.0) * BAR_GAP;
        let slot = group_w + GROUP_PAD;
        let plot_w = (self.rows.len() as f64 * slot).max(360.0);
        let width = LEFT + plot_w + RIGHT;
        let height = TOP + PLOT_H + BOTTOM;
        let max = self
            .rows
            .iter()
            .flat_map(|r| chart_values(&r.metrics))
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let (top, step) = nice_axis(max);
        let y = |v: f64| TOP + PLOT_H - (v.clamp(0.0, top) / top) * PLOT_H;
        let k = self.k_label();

        out.push_str("<h2>Accuracy by algorithm</h2>\n");
        let _ = writeln!(
            out,
            "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
             role=\"img\" aria-labelledby=\"chart-title\">\n<title id=\"chart-title\">\
             P@{k}, R@{k}, NDCG@{k} and MAP@{k} per algorithm</title>"
        );
        // Grid lines and y tick labels.
        let decimals = decimals_for(step);
        let ticks = (top / step).round() as usize;
        for i in 0..=ticks {
            let v = step * i as f64;
            let ty = y(v);
            let _ = writeln!(
                out,
                "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\"/>\
                 <text class=\"tick\" x=\"{:.1}\" y=\"{ty:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{v:.decimals$}</text>",
                LEFT + plot_w,
                LEFT - 6.0
            );
        }
        // Axes and their titles.
        let base = TOP + PLOT_H;
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\"/>\
             <line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\"/>",
            LEFT + plot_w
        );
        let _ = writeln!(
            out,
            "<text class=\"axis-title\" transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">score</text>\
             <text class=\"axis-title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">algorithm</text>",
            TOP + PLOT_H / 2.0,
            LEFT + plot_w / 2.0,
            height - 8.0
        );
        // Legend, above the plot.
        let mut lx = LEFT;
        for (name, colour) in CHART_SERIES {
            let label = format!("{name}@{k}");
            let _ = writeln!(
                out,
                "<rect x=\"{lx:.1}\" y=\"12\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
                 <text class=\"legend\" x=\"{:.1}\" y=\"18\" dominant-baseline=\"middle\">{}</text>",
                lx + 16.0,
                escape_html(&label)
            );
            lx += 16.0 + 8.0 * label.chars().count() as f64 + 18.0;
        }
        // Bars, one group per algorithm.
        let offset = (plot_w - self.rows.len() as f64 * slot) / 2.0;
        for (g, row) in self.rows.iter().enumerate() {
            let gx = LEFT + offset + g as f64 * slot + GROUP_PAD / 2.0;
            let name = self.row_label(row);
            for (s, ((metric_name, colour), v)) in CHART_SERIES
                .iter()
                .zip(chart_values(&row.metrics))
                .enumerate()
            {
                let v = if v.is_finite() { v } else { 0.0 };
                let bx = gx + s as f64 * (BAR + BAR_GAP);
                let by = y(v);
                let _ = writeln!(
                    out,
                    "<rect x=\"{bx:.1}\" y=\"{by:.1}\" width=\"{BAR}\" height=\"{:.1}\" fill=\"{colour}\">\
                     <title>{}: {metric_name}@{k} = {}</title></rect>",
                    base - by,
                    escape_html(&name),
                    metric(v)
                );
            }
            let short = truncate(&name, LABEL_CHARS);
            let _ = writeln!(
                out,
                "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}<title>{}</title></text>",
                gx + group_w / 2.0,
                base + 18.0,
                escape_html(&short),
                escape_html(&name)
            );
        }
        out.push_str("</svg>\n");
    }
}

/// A round axis maximum and tick step covering `max` in about five ticks.
fn nice_axis(max: f64) -> (f64, f64) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = match raw / magnitude {
        n if n <= 1.0 => magnitude,
        n if n <= 2.0 => 2.0 * magnitude,
        n if n <= 5.0 => 5.0 * magnitude,
        _ => 10.0 * magnitude,
    };
    ((max / step).ceil() * step, step)
}

/// Decimal places needed to print multiples of `step` exactly.
fn decimals_for(step: f64) -> usize {
    let d = -step.log10().floor();
    if d > 0.0 {
        d as usize
    } else {
        0
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars - 1).collect();
        t.push('…');
        t
    }
}

const STYLE: &str = r#"body { margin: 0; background: #fafafa; color: #1f2328;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.15em; margin: 28px 0 8px; }
.meta { color: #59636e; margin: 0 0 20px; }
table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08);
  font-variant-numeric: tabular-nums; display: block; overflow-x: auto; }
th, td { padding: 6px 12px; border-bottom: 1px solid #e5e7eb; text-align: left; white-space: nowrap; }
thead th { background: #f3f4f6; font-weight: 600; }
tbody tr:nth-child(even) { background: #f9fafb; }
tbody th { font-weight: 600; }
.num { text-align: right; }
.chart { max-width: 100%; height: auto; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.chart text { font-size: 12px; fill: #1f2328; }
.chart .tick { fill: #59636e; }
.chart .axis-title { font-weight: 600; }
.chart .grid { stroke: #e5e7eb; }
.chart .axis { stroke: #59636e; }
.params dt { font-weight: 600; margin-top: 6px; }
.params dd { margin: 0 0 0 16px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em;
  background: #f3f4f6; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
"#;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is the failure report in a test
mod tests {
    use super::*;

    fn summary(k: usize, base: f64) -> MetricSummary {
        MetricSummary {
            k,
            users: 3,
            precision: base,
            recall: base * 2.0,
            ndcg: base * 1.5,
            map: base / 2.0,
            hit_rate: 0.5,
            coverage: 0.25,
            novelty: 3.5,
            diversity: None,
        }
    }

    fn report(algorithm: &str) -> Report {
        Report {
            title: "Offline comparison".into(),
            dataset: "ml-100k".into(),
            split: crate::SplitStrategy::default_protocol().describe(),
            train_events: 80_000,
            test_events: 20_000,
            rows: vec![
                ReportRow {
                    algorithm: "popularity".into(),
                    params: serde_json::Value::Null,
                    fit_seconds: 0.01,
                    recommend_seconds: 0.2,
                    metrics: summary(10, 0.1),
                },
                ReportRow {
                    algorithm: algorithm.into(),
                    params: serde_json::json!({"factors": 64, "note": "`tick`"}),
                    fit_seconds: 1.5,
                    recommend_seconds: 0.25,
                    metrics: MetricSummary {
                        diversity: Some(0.75),
                        ..summary(10, 0.2)
                    },
                },
            ],
        }
    }

    #[test]
    fn escape_html_covers_the_special_characters() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain"), "plain");
    }

    #[test]
    fn markdown_has_the_table() {
        let md = report("als").to_markdown();
        assert!(md.starts_with("# Offline comparison\n"));
        assert!(md.contains(
            "dataset: ml-100k · split: random holdout (test_fraction=0.2, min_user_items=5, seed=42) · train events: 80000 · test events: 20000"
        ));
        assert!(md.contains(
            "| algorithm | P@10 | R@10 | NDCG@10 | MAP@10 | HR@10 | coverage | novelty | diversity | fit s | recommend s |"
        ));
        assert!(md.contains(
            "| popularity | 0.1000 | 0.2000 | 0.1500 | 0.0500 | 0.5000 | 0.2500 | 3.5000 | n/a | 0.010 | 0.200 |"
        ));
        assert!(md.contains("| als | 0.2000 | 0.4000 | 0.3000 | 0.1000 |"));
        assert!(md.contains("| 0.7500 | 1.500 | 0.250 |"));
        // Parameters only for rows that have some; backticks in the JSON survive.
        assert!(md.contains("- `als`: ``{\"factors\":64,\"note\":\"`tick`\"}``"));
        assert!(!md.contains("`popularity`"));
    }

    #[test]
    fn markdown_escapes_pipes_and_marks_mixed_k() {
        let mut r = report("a|b <i>&");
        r.title = "<h1>".into();
        r.rows[0].metrics.k = 5;
        let md = r.to_markdown();
        assert!(md.starts_with("# &lt;h1&gt;\n"));
        assert!(md.contains("| P@K | R@K |"));
        assert!(md.contains("| a\\|b &lt;i&gt;&amp; (k=10) |"));
        assert!(md.contains("| popularity (k=5) |"));
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let html = report("<script>alert('x')</script>").to_html();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script"), "user text must be escaped");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        // Nothing is fetched: no script sources, stylesheets, fonts or any URL at all.
        assert!(!html.contains("http"));
        assert!(!html.contains("src="));
        assert!(!html.contains("<link"));
        assert!(!html.contains("@import"));
        assert!(html.contains("<style>"));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn html_has_table_and_chart() {
        let html = report("als").to_html();
        assert!(html.contains("<th scope=\"col\" class=\"num\">NDCG@10</th>"));
        assert!(html.contains("<th scope=\"row\">als</th>"));
        assert!(html.contains("<td class=\"num\">0.3000</td>"));
        assert!(html.contains("<svg class=\"chart\""));
        // 2 algorithms x 4 metrics bars + 4 legend swatches.
        assert_eq!(html.matches("<rect").count(), 12);
        for label in [
            "P@10",
            "R@10",
            "NDCG@10",
            "MAP@10",
            ">score<",
            ">algorithm<",
        ] {
            assert!(html.contains(label), "missing {label}");
        }
        assert!(html.contains("<title>als: NDCG@10 = 0.3000</title>"));
        // The axis top is a round number above the largest value (0.4 -> 0.4, step 0.1).
        assert!(html.contains(">0.4</text>"));
        assert!(html.contains("<h2>Parameters</h2>"));
    }

    #[test]
    fn empty_report_still_renders() {
        let mut r = report("als");
        r.rows.clear();
        assert!(r.to_markdown().contains("_No results._"));
        let html = r.to_html();
        assert!(html.contains("No results.") && !html.contains("<svg"));
    }

    #[test]
    fn json_round_trips_the_fields() {
        let r = report("als");
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["dataset"], "ml-100k");
        assert_eq!(v["rows"][1]["params"]["factors"], 64);
        assert_eq!(v["rows"][1]["metrics"]["k"], 10);
        assert_eq!(
            v["rows"][0]["metrics"]["diversity"],
            serde_json::Value::Null
        );
        let m: MetricSummary = serde_json::from_value(v["rows"][1]["metrics"].clone()).unwrap();
        assert_eq!(m, r.rows[1].metrics);
    }

    #[test]
    fn axis_helpers() {
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
        assert_eq!(nice_axis(f64::NAN), (1.0, 0.2));
        let (top, step) = nice_axis(0.37);
        assert!((step - 0.1).abs() < 1e-12 && (top - 0.4).abs() < 1e-12);
        let (top, step) = nice_axis(0.043);
        assert!((step - 0.01).abs() < 1e-12 && (top - 0.05).abs() < 1e-12);
        assert_eq!(decimals_for(0.01), 2);
        assert_eq!(decimals_for(2.0), 0);
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
