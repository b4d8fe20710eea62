//! What the golden tests of every codec share: reading fixtures, and comparing encoder output with snapshots (or rewriting them under `OMNIROUTE_BLESS`).

use serde::de::DeserializeOwned;
use serde_json::Value;

pub fn parse<T: DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap()
}

/// Compares `actual` with the snapshot `name` in `fixtures/<format>/`, or
/// rewrites the snapshot when `OMNIROUTE_BLESS` is set.
pub fn snapshot(format: &str, name: &str, expected: &str, actual: &str) {
    if std::env::var_os("OMNIROUTE_BLESS").is_some() {
        let path = format!(
            "{}/src/translate/fixtures/{format}/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::write(path, actual).unwrap();
        return;
    }
    assert!(
        expected == actual,
        "{name} differs from the encoder's output:\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// A JSON body as snapshot text: pretty, in the encoder's key order.
pub fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    text
}

/// The pretty form of a JSON fixture, so hand-written spacing does not
/// matter but key order does.
pub fn normalized(text: &str) -> String {
    pretty(&parse(text))
}
