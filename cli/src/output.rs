//! Printing results: aligned tables and short reports for people, JSON for scripts.

use std::io::{self, Write};

use serde_json::Value;

use crate::api::sanitize;

/// Writes `text` to standard output. A closed pipe, as after `| head`, is not an error.
pub fn print(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Writes a JSON document to standard output, indented, with a final newline.
pub fn print_json(document: &Value) {
    let mut text = serde_json::to_string_pretty(document).expect("a JSON value serialises");
    text.push('\n');
    print(&text);
}

/// Maximum characters of a free-text cell, such as a reason, in a table.
const MAX_TEXT_CELL: usize = 48;

/// A table of text cells, printed with left-aligned columns two spaces apart.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row. Control characters in cells become spaces.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|cell| sanitize(cell)).collect());
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.len()).collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate().take(columns) {
                widths[index] = widths[index].max(cell.chars().count());
            }
        }
        let mut text = String::new();
        let header_cells: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header_cells).chain(&self.rows) {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate().take(columns) {
                if index + 1 < columns {
                    let padding = widths[index] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(padding + 2));
                } else {
                    line.push_str(cell);
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Returns the string at `value`, or `-` when it is absent, null or empty.
pub fn cell(value: &Value) -> String {
    match value {
        Value::String(text) if !text.is_empty() => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => if *flag { "yes" } else { "no" }.to_string(),
        _ => "-".to_string(),
    }
}

/// Like [`cell`], shortened to [`MAX_TEXT_CELL`] characters with a trailing `…`.
pub fn text_cell(value: &Value) -> String {
    let text = cell(value);
    if text.chars().count() <= MAX_TEXT_CELL {
        return text;
    }
    let mut short: String = text.chars().take(MAX_TEXT_CELL - 1).collect();
    short.push('…');
    short
}

/// Formats aligned `label: value` lines, indented by two spaces, skipping absent values.
pub fn details(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .filter(|(_, value)| value != "-")
        .map(|(label, _)| label.len() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (label, value) in pairs {
        if value == "-" {
            continue;
        }
        let label = format!("{label}:");
        text.push_str(&format!("  {label:width$}  {}\n", sanitize(value)));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut table = Table::new(&["NAME", "ROLE"]);
        table.row(vec!["payments-prod".into(), "ClusterAdmin".into()]);
        table.row(vec!["x".into(), "ClusterView".into()]);
        assert_eq!(
            table.render(),
            "NAME           ROLE\npayments-prod  ClusterAdmin\nx              ClusterView\n"
        );
    }

    #[test]
    fn cells_are_sanitized_and_shortened() {
        let mut table = Table::new(&["REASON"]);
        table.row(vec!["evil\u{1b}[2Jtext".into()]);
        assert_eq!(table.render(), "REASON\nevil [2Jtext\n");
        let long = json!("x".repeat(100));
        assert_eq!(text_cell(&long).chars().count(), MAX_TEXT_CELL);
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(true)), "yes");
    }

    #[test]
    fn details_skip_absent_values() {
        let text = details(&[("state", "active".into()), ("reason", "-".into())]);
        assert_eq!(text, "  state:  active\n");
    }
}
