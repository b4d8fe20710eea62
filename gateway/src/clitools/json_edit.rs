//! Edits of a JSON (or JSONC / JSON5) config file that keep everything the user wrote: other keys in their order, comments, indentation and line breaks; only the named paths change.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstArray, CstInputValue, CstNode, CstObject, CstRootNode};
use serde_json::Value;

use super::write::WriteError;

/// How forgiving the parser is. Every tool here accepts comments and
/// trailing commas in its JSON (they read it with a JSONC parser); OpenClaw
/// reads JSON5, which also allows bare keys and single quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Jsonc,
    Json5,
}

impl Syntax {
    fn options(self) -> ParseOptions {
        let json5 = self == Syntax::Json5;
        ParseOptions {
            allow_comments: true,
            allow_trailing_commas: true,
            allow_loose_object_property_names: json5,
            allow_missing_commas: false,
            allow_single_quoted_strings: json5,
            allow_hexadecimal_numbers: json5,
            allow_unary_plus_numbers: json5,
            ..ParseOptions::default()
        }
    }
}

/// A parsed config file being edited.
pub struct JsonDoc {
    root: CstRootNode,
    label: String,
    /// The file had nothing in it yet.
    fresh: bool,
}

impl JsonDoc {
    /// Parses `text` (`None` or blank: no file yet). `label` names the file
    /// in errors. A file that does not parse is refused.
    pub fn parse(text: Option<&str>, label: &str, syntax: Syntax) -> Result<JsonDoc, WriteError> {
        let text = text.unwrap_or_default();
        let fresh = text.trim().is_empty();
        let root = CstRootNode::parse(if fresh { "" } else { text }, &syntax.options())
            .map_err(|e| unparsable(label, e.to_string()))?;
        Ok(JsonDoc {
            root,
            label: label.to_owned(),
            fresh,
        })
    }

    /// The file had nothing in it yet.
    pub fn is_new(&self) -> bool {
        self.fresh
    }

    /// The top-level object (created in an empty file).
    fn top_object(&self) -> Result<CstObject, WriteError> {
        match self.root.value() {
            None => Ok(self.root.object_value_or_set()),
            Some(value) => value
                .as_object()
                .ok_or_else(|| self.refuse("the top level is not an object")),
        }
    }

    /// The top-level array (created in an empty file).
    pub fn top_array(&self) -> Result<CstArray, WriteError> {
        match self.root.value() {
            None => Ok(self.root.array_value_or_set()),
            Some(value) => value
                .as_array()
                .ok_or_else(|| self.refuse("the top level is not an array")),
        }
    }

    /// The object at `path`, created (with the objects on the way) when missing.
    fn object_at(&self, path: &[&str]) -> Result<CstObject, WriteError> {
        let mut here = self.top_object()?;
        for key in path {
            here = match here.get(key) {
                None => here.object_value_or_set(key),
                Some(prop) => prop
                    .value()
                    .and_then(|v| v.as_object())
                    .ok_or_else(|| self.refuse(&format!("`{key}` is not an object")))?,
            };
        }
        Ok(here)
    }

    /// Sets the value at `path`, keeping the property where it was.
    pub fn set(&self, path: &[&str], value: &Value) -> Result<(), WriteError> {
        let Some((last, parents)) = path.split_last() else {
            return Ok(());
        };
        let parent = self.object_at(parents)?;
        match parent.get(last) {
            // Untouched when equal: the user's own spelling of it stays.
            Some(prop) if prop.value().and_then(|v| v.to_serde_value()).as_ref() == Some(value) => {
            }
            Some(prop) => prop.set_value(input(value)),
            None => {
                parent.append(last, input(value));
            }
        }
        Ok(())
    }

    /// Removes the value at `path`, if there is one.
    pub fn remove(&self, path: &[&str]) -> Result<(), WriteError> {
        let Some((last, parents)) = path.split_last() else {
            return Ok(());
        };
        let mut here = self.top_object()?;
        for key in parents {
            match here
                .get(key)
                .and_then(|p| p.value())
                .and_then(|v| v.as_object())
            {
                Some(next) => here = next,
                None => return Ok(()),
            }
        }
        if let Some(prop) = here.get(last) {
            prop.remove();
        }
        Ok(())
    }

    /// The array at `path` (created when missing).
    pub fn array_at(&self, path: &[&str]) -> Result<CstArray, WriteError> {
        let Some((last, parents)) = path.split_last() else {
            return self.top_array();
        };
        let parent = self.object_at(parents)?;
        match parent.get(last) {
            None => Ok(parent.array_value_or_set(last)),
            Some(prop) => prop
                .value()
                .and_then(|v| v.as_array())
                .ok_or_else(|| self.refuse(&format!("`{last}` is not a list"))),
        }
    }

    /// In `array`, replaces the entries `is_ours` picks with `entries`, at
    /// the place of the first of them (at the end when there was none). The
    /// user's other entries stay as they are.
    pub fn replace_entries(
        &self,
        array: &CstArray,
        is_ours: impl Fn(&Value) -> bool,
        entries: &[Value],
    ) {
        let current: Vec<Value> = array
            .elements()
            .iter()
            .filter_map(|e| e.to_serde_value())
            .filter(|v| is_ours(v))
            .collect();
        if current == entries {
            // Rewriting equal entries could still move their line breaks.
            return;
        }
        let mut at = None;
        for (index, element) in array.elements().into_iter().enumerate() {
            let ours = element.to_serde_value().is_some_and(|v| is_ours(&v));
            if ours {
                at.get_or_insert(index);
                element.remove();
            }
        }
        let start = at.unwrap_or_else(|| array.elements().len());
        for (offset, entry) in entries.iter().enumerate() {
            array.insert(start + offset, input(entry));
        }
    }

    /// The value at `path`, if any.
    pub fn get(&self, path: &[&str]) -> Option<Value> {
        let mut node: CstNode = self.root.value()?;
        for key in path {
            node = node.as_object()?.get(key)?.value()?;
        }
        node.to_serde_value()
    }

    /// The edited text. A file OmniRoute creates ends with a newline.
    pub fn finish(self) -> String {
        let mut text = self.root.to_string();
        if self.fresh && !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }

    fn refuse(&self, detail: &str) -> WriteError {
        unparsable(&self.label, detail.to_owned())
    }
}

fn unparsable(label: &str, detail: String) -> WriteError {
    WriteError::Unparsable {
        path: label.to_owned(),
        format: "JSON",
        detail,
    }
}

/// A serde value as the CST takes it, keys in their order.
fn input(value: &Value) -> CstInputValue {
    match value {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

/// One edit: set the value at a path of object keys (creating the objects
/// on the way), or remove it when the value is `None`.
pub type Edit<'a> = (&'a [&'a str], Option<Value>);

/// The file's new text after `edits`, for the common case of a JSONC object.
pub fn edit_json(
    text: Option<&str>,
    label: &str,
    edits: &[Edit<'_>],
) -> Result<String, WriteError> {
    let doc = JsonDoc::parse(text, label, Syntax::Jsonc)?;
    for (path, value) in edits {
        match value {
            Some(value) => doc.set(path, value)?,
            None => doc.remove(path)?,
        }
    }
    Ok(doc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn other_keys_comments_and_layout_stay() {
        let text = "{\n    // mine\n    \"zeta\": 1,\n    \"env\": {\"KEEP\": \"x\", \"ANTHROPIC_BASE_URL\": \"old\"},\n    \"alpha\": [1, 2], /* trailing */\n}\n";
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
        assert!(
            out.starts_with("{\n    // mine\n    \"zeta\": 1,\n"),
            "{out}"
        );
        assert!(out.contains("\"KEEP\": \"x\""), "{out}");
        assert!(out.contains("\"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:20128\""));
        assert!(out.contains("\"alpha\": [1, 2],"), "{out}");
        assert!(out.contains("/* trailing */"), "{out}");
        let doc = JsonDoc::parse(Some(&out), "x", Syntax::Jsonc).unwrap();
        assert_eq!(doc.get(&["env", "NEW"]), Some(json!("y")));
        assert_eq!(doc.get(&["model"]), Some(json!("m")));
        assert_eq!(doc.get(&["zeta"]), Some(json!(1)));
    }

    #[test]
    fn a_missing_file_starts_empty_and_removals_are_quiet() {
        let out = edit_json(
            None,
            "x.json",
            &[(&["a", "b"], Some(json!(true))), (&["c"], None)],
        )
        .unwrap();
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value, json!({"a": {"b": true}}));
        assert_eq!(out, "{\n  \"a\": {\n    \"b\": true\n  }\n}\n");
        let out = edit_json(Some(&out), "x.json", &[(&["a", "b"], None)]).unwrap();
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value, json!({"a": {}}));
    }

    #[test]
    fn list_entries_of_ours_are_replaced_in_place() {
        let text = r#"{"models": [{"title": "mine"}, {"title": "OmniRoute: a"}, {"title": "OmniRoute: b"}, {"title": "last"}]}"#;
        let doc = JsonDoc::parse(Some(text), "x", Syntax::Jsonc).unwrap();
        let list = doc.array_at(&["models"]).unwrap();
        doc.replace_entries(
            &list,
            |v| {
                v["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("OmniRoute"))
            },
            &[json!({"title": "OmniRoute: c"})],
        );
        let value: Value = serde_json::from_str(&doc.finish()).unwrap();
        assert_eq!(
            value["models"],
            json!([{"title": "mine"}, {"title": "OmniRoute: c"}, {"title": "last"}])
        );
    }

    #[test]
    fn broken_or_odd_files_are_refused_by_name() {
        for text in ["{ \"a\": ", "[1, 2]", "{\"env\": 3}", "{a: 1}"] {
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
        // JSON5 takes bare keys.
        let doc = JsonDoc::parse(Some("{a: 1, 'b': 2}"), "x", Syntax::Json5).unwrap();
        doc.set(&["c"], &json!(3)).unwrap();
        assert_eq!(doc.get(&["a"]), Some(json!(1)));
    }
}
