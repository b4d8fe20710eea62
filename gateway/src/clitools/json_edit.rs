//! Edits of a JSON config file that keep everything the user wrote: other keys stay, in their order; only the named paths are set or removed.

use serde_json::{Map, Value};

use super::write::WriteError;

/// One edit: set the value at a path of object keys (creating the objects
/// on the way), or remove it when the value is `None`.
pub type Edit<'a> = (&'a [&'a str], Option<Value>);

/// The file's new text after `edits`. `text` is the current content (`None`
/// or blank: no file yet); it must be a JSON object, or the file is refused
/// and left as it is. The result is pretty-printed with two spaces and ends
/// with a newline.
pub fn edit_json(
    text: Option<&str>,
    label: &str,
    edits: &[Edit<'_>],
) -> Result<String, WriteError> {
    let unparsable = |detail: String| WriteError::Unparsable {
        path: label.to_owned(),
        format: "JSON",
        detail,
    };
    let mut root = match text.map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(unparsable("the top level is not an object".to_owned())),
            Err(e) => return Err(unparsable(e.to_string())),
        },
    };
    for (path, value) in edits {
        apply(&mut root, path, value.clone(), label)?;
    }
    let mut out = serde_json::to_string_pretty(&Value::Object(root))
        .map_err(|e| unparsable(e.to_string()))?;
    out.push('\n');
    Ok(out)
}

fn apply(
    map: &mut Map<String, Value>,
    path: &[&str],
    value: Option<Value>,
    label: &str,
) -> Result<(), WriteError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut here = map;
    for key in parents {
        let slot = here
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        here = match slot {
            Value::Object(inner) => inner,
            _ => {
                return Err(WriteError::Unparsable {
                    path: label.to_owned(),
                    format: "JSON",
                    detail: format!("`{key}` is not an object"),
                });
            }
        };
    }
    match value {
        Some(value) => {
            here.insert((*last).to_owned(), value);
        }
        None => {
            here.shift_remove(*last);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn other_keys_keep_their_values_and_order() {
        let text =
            r#"{"zeta": 1, "env": {"KEEP": "x", "ANTHROPIC_BASE_URL": "old"}, "alpha": [1, 2]}"#;
        let out = edit_json(
            Some(text),
            "settings.json",
            &[
                (
                    &["env", "ANTHROPIC_BASE_URL"],
                    Some(json!("http://127.0.0.1:20128")),
                ),
                (&["env", "NEW"], Some(json!("y"))),
                (&["model"], Some(json!("m"))),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n  \"zeta\": 1,\n  \"env\": {\n    \"KEEP\": \"x\",\n    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:20128\",\n    \"NEW\": \"y\"\n  },\n  \"alpha\": [\n    1,\n    2\n  ],\n  \"model\": \"m\"\n}\n"
        );
    }

    #[test]
    fn a_missing_file_starts_empty_and_removals_are_quiet() {
        let out = edit_json(
            None,
            "x.json",
            &[(&["a", "b"], Some(json!(true))), (&["c"], None)],
        )
        .unwrap();
        assert_eq!(out, "{\n  \"a\": {\n    \"b\": true\n  }\n}\n");
        let out = edit_json(Some(&out), "x.json", &[(&["a", "b"], None)]).unwrap();
        assert_eq!(out, "{\n  \"a\": {}\n}\n");
    }

    #[test]
    fn broken_or_odd_files_are_refused_by_name() {
        for text in ["{ \"a\": ", "[1, 2]", "{\"env\": 3}"] {
            let error = edit_json(
                Some(text),
                "/home/u/.claude/settings.json",
                &[(&["env", "X"], Some(json!(1)))],
            )
            .unwrap_err();
            let message = error.to_string();
            assert!(
                message.starts_with("/home/u/.claude/settings.json is not valid JSON"),
                "{message}"
            );
        }
    }
}
