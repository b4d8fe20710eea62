//! Edits of a `.env` file (Gemini CLI, Qwen Code, Codex read one from their config directory): named variables are set where they are, or added at the end; every other line, comment and blank line stays.

/// The file's new text with each `(name, value)` set. `text` is the current
/// content (`None`: no file yet).
pub fn set_vars(text: Option<&str>, vars: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = text
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    for (name, value) in vars {
        let line = format!("{name}={}", quoted(value));
        match lines.iter().position(|l| defines(l, name)) {
            Some(at) => lines[at] = line,
            None => lines.push(line),
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// `NAME=…` or `export NAME=…`, spaces around allowed.
fn defines(line: &str, name: &str) -> bool {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
    line.strip_prefix(name)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// Bare when it is plain; double-quoted (with `\` and `"` escaped) when a
/// space, `#` or quote would change how dotenv parsers read it.
fn quoted(value: &str) -> String {
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@+,=%~".contains(c));
    if plain && !value.is_empty() {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_lines_are_replaced_and_others_kept() {
        let text = "# my keys\nGEMINI_API_KEY=old\n\nexport OTHER=1\n";
        let out = set_vars(
            Some(text),
            &[
                ("GEMINI_API_KEY", "sk-omni"),
                ("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:20128"),
            ],
        );
        assert_eq!(
            out,
            "# my keys\nGEMINI_API_KEY=sk-omni\n\nexport OTHER=1\nGOOGLE_GEMINI_BASE_URL=http://127.0.0.1:20128\n"
        );
    }

    #[test]
    fn odd_values_are_quoted_and_prefixes_do_not_match() {
        let out = set_vars(Some("KEY_2=x"), &[("KEY", "a b#\"c")]);
        assert_eq!(out, "KEY_2=x\nKEY=\"a b#\\\"c\"\n");
        assert_eq!(set_vars(None, &[("A", "1")]), "A=1\n");
    }
}
