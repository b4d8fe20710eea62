//! The pure side of the settings form: number fields, per-provider rows, and the PATCH body of what changed.

use serde_json::{Map, Value, json};

/// The settings that differ between `original` and `draft`: the PATCH body.
/// A key `original` lacks counts as changed, so the gateway names it if unknown.
pub fn patch_body(original: &Map<String, Value>, draft: &Map<String, Value>) -> Map<String, Value> {
    draft
        .iter()
        .filter(|(key, value)| original.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// A whole number typed in a field shown in units of `scale` (1 for plain
/// numbers, 1 MiB for sizes); sizes may have decimals. `None` when not a number ≥ 0.
pub fn parse_scaled(text: &str, scale: u64) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if scale == 1 {
        return text.parse().ok();
    }
    let value: f64 = text.parse().ok()?;
    let scaled = (value * scale as f64).round();
    (value.is_finite() && value >= 0.0 && scaled <= u64::MAX as f64).then_some(scaled as u64)
}

/// A stored number in units of `scale`, without trailing zeros (`1.5`, `32`).
pub fn show_scaled(value: u64, scale: u64) -> String {
    if scale <= 1 {
        return value.to_string();
    }
    if (value / scale) * scale == value {
        return (value / scale).to_string();
    }
    let shown = format!("{:.3}", value as f64 / scale as f64);
    shown.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One provider's pacing limits as edited; empty text means "no limit".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitRow {
    pub id: u64,
    pub provider: String,
    pub max_concurrent: String,
    pub min_gap_ms: String,
    pub requests_per_minute: String,
}

/// A provider and one value (its account strategy, or its proxy URL).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairRow {
    pub id: u64,
    pub provider: String,
    pub value: String,
}

/// Why the rows cannot become a setting.
#[derive(Debug, Clone, PartialEq)]
pub enum RowError {
    /// A row has values but no provider.
    MissingProvider,
    /// Two rows name the same provider.
    Duplicate(String),
    /// A limit is not a whole number of at least 1.
    BadNumber {
        provider: String,
        field: &'static str,
    },
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

fn check_provider<'a>(provider: &'a str, seen: &mut Vec<&'a str>) -> Result<(), RowError> {
    if seen.contains(&provider) {
        return Err(RowError::Duplicate(provider.to_owned()));
    }
    seen.push(provider);
    Ok(())
}

/// `provider_limits` from the rows; rows left completely empty are dropped.
pub fn limits_to_json(rows: &[LimitRow]) -> Result<Value, RowError> {
    let mut map = Map::new();
    let mut seen = Vec::new();
    for row in rows {
        let provider = row.provider.trim();
        let values = [
            ("max_concurrent", &row.max_concurrent),
            ("min_gap_ms", &row.min_gap_ms),
            ("requests_per_minute", &row.requests_per_minute),
        ];
        if provider.is_empty() {
            if values.iter().all(|(_, v)| is_blank(v)) {
                continue;
            }
            return Err(RowError::MissingProvider);
        }
        check_provider(provider, &mut seen)?;
        let mut limits = Map::new();
        for (field, text) in values {
            let value = if is_blank(text) {
                Value::Null
            } else {
                // A gap of 0 ms is no gap; the counts must be at least 1.
                let least = if field == "min_gap_ms" { 0 } else { 1 };
                match text.trim().parse::<u64>() {
                    Ok(n) if n >= least => json!(n),
                    _ => {
                        return Err(RowError::BadNumber {
                            provider: provider.to_owned(),
                            field,
                        });
                    }
                }
            };
            limits.insert(field.to_owned(), value);
        }
        map.insert(provider.to_owned(), Value::Object(limits));
    }
    Ok(Value::Object(map))
}

/// A provider -> string map from the rows (strategies, proxies); rows
/// without a value are dropped.
pub fn pairs_to_json(rows: &[PairRow]) -> Result<Value, RowError> {
    let mut map = Map::new();
    let mut seen = Vec::new();
    for row in rows {
        let provider = row.provider.trim();
        let value = row.value.trim();
        if value.is_empty() {
            continue;
        }
        if provider.is_empty() {
            return Err(RowError::MissingProvider);
        }
        check_provider(provider, &mut seen)?;
        map.insert(provider.to_owned(), json!(value));
    }
    Ok(Value::Object(map))
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Rows for a stored `provider_limits`, numbered from `next_id`.
pub fn limits_from_json(value: Option<&Value>, next_id: &mut u64) -> Vec<LimitRow> {
    let Some(map) = value.and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .map(|(provider, limits)| {
            *next_id += 1;
            LimitRow {
                id: *next_id,
                provider: provider.clone(),
                max_concurrent: text_of(limits.get("max_concurrent")),
                min_gap_ms: text_of(limits.get("min_gap_ms")),
                requests_per_minute: text_of(limits.get("requests_per_minute")),
            }
        })
        .collect()
}

/// Rows for a stored provider -> string map, numbered from `next_id`.
pub fn pairs_from_json(value: Option<&Value>, next_id: &mut u64) -> Vec<PairRow> {
    let Some(map) = value.and_then(Value::as_object) else {
        return Vec::new();
    };
    map.iter()
        .map(|(provider, value)| {
            *next_id += 1;
            PairRow {
                id: *next_id,
                provider: provider.clone(),
                value: text_of(Some(value)),
            }
        })
        .collect()
}

/// The setting a gateway validation message is about: the known name it
/// mentions first (`cooldown_max_secs must be between cooldown_base_secs …`).
pub fn field_of_error<'a>(message: &str, keys: &[&'a str]) -> Option<&'a str> {
    let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    keys.iter()
        .copied()
        .filter_map(|key| {
            // Whole names only: `base_secs` is not inside `cooldown_base_secs`.
            message
                .match_indices(key)
                .map(|(at, _)| at)
                .find(|&at| {
                    !part(message[..at].chars().next_back())
                        && !part(message[at + key.len()..].chars().next())
                })
                .map(|at| (at, key))
        })
        .min_by_key(|&(at, key)| (at, std::cmp::Reverse(key.len())))
        .map(|(_, key)| key)
}

/// `2026-11-28 18:30:05` -> `20261128-183005`, for file names.
pub fn file_stamp(datetime: &str) -> String {
    datetime
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// The file name of a `Content-Disposition: attachment; filename="…"` header.
pub fn attachment_name(header: &str) -> Option<String> {
    let start = header.find("filename=")? + "filename=".len();
    let rest = &header[start..];
    let name = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split(';').next()?.trim(),
    };
    // Only a plain name: never a path from the server.
    let name = name.rsplit(['/', '\\']).next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_patch_has_only_changed_settings() {
        let original = map(
            json!({"retry_attempts": 2, "proxy": "", "provider_limits": {"a": {"max_concurrent": 2}}}),
        );
        let same = original.clone();
        assert!(patch_body(&original, &same).is_empty());
        let mut draft = original.clone();
        draft.insert("retry_attempts".into(), json!(3));
        draft.insert("provider_limits".into(), json!({}));
        draft.insert("log_bodies".into(), json!(true));
        assert_eq!(
            Value::Object(patch_body(&original, &draft)),
            json!({"retry_attempts": 3, "provider_limits": {}, "log_bodies": true})
        );
    }

    #[test]
    fn numbers_in_units() {
        assert_eq!(parse_scaled("600", 1), Some(600));
        assert_eq!(parse_scaled(" 7 ", 1), Some(7));
        assert_eq!(parse_scaled("-1", 1), None);
        assert_eq!(parse_scaled("1.5", 1), None);
        assert_eq!(parse_scaled("", 1), None);
        assert_eq!(parse_scaled("x", 1), None);
        let mib = 1024 * 1024;
        assert_eq!(parse_scaled("32", mib), Some(32 * mib));
        assert_eq!(parse_scaled("1.5", mib), Some(mib + mib / 2));
        assert_eq!(parse_scaled("-2", mib), None);
        assert_eq!(show_scaled(32 * mib, mib), "32");
        assert_eq!(show_scaled(mib + mib / 2, mib), "1.5");
        assert_eq!(show_scaled(1024, mib), "0.001");
        assert_eq!(show_scaled(600, 1), "600");
        // What is shown reads back to the same bytes when it is whole or half.
        for bytes in [0, mib, 64 * mib, mib / 2] {
            assert_eq!(parse_scaled(&show_scaled(bytes, mib), mib), Some(bytes));
        }
    }

    #[test]
    fn limits_rows_round_trip_with_nulls_for_no_limit() {
        let stored =
            json!({"openai": {"max_concurrent": 4, "min_gap_ms": null, "requests_per_minute": 60}});
        let mut next = 0;
        let rows = limits_from_json(Some(&stored), &mut next);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, 1);
        assert_eq!(rows[0].min_gap_ms, "");
        assert_eq!(limits_to_json(&rows), Ok(stored));
        assert_eq!(next, 1);
    }

    #[test]
    fn bad_limit_rows_are_refused_and_empty_ones_dropped() {
        let row = |provider: &str, concurrent: &str, gap: &str| LimitRow {
            provider: provider.into(),
            max_concurrent: concurrent.into(),
            min_gap_ms: gap.into(),
            ..LimitRow::default()
        };
        assert_eq!(limits_to_json(&[row("", "", "")]), Ok(json!({})));
        assert_eq!(
            limits_to_json(&[row("", "2", "")]),
            Err(RowError::MissingProvider)
        );
        assert_eq!(
            limits_to_json(&[row("a", "0", "")]),
            Err(RowError::BadNumber {
                provider: "a".into(),
                field: "max_concurrent"
            })
        );
        assert_eq!(
            limits_to_json(&[row("a", "", "0")]),
            Ok(
                json!({"a": {"max_concurrent": null, "min_gap_ms": 0, "requests_per_minute": null}})
            )
        );
        assert_eq!(
            limits_to_json(&[row("a", "x", "")]),
            Err(RowError::BadNumber {
                provider: "a".into(),
                field: "max_concurrent"
            })
        );
        assert_eq!(
            limits_to_json(&[row("a", "1", ""), row(" a ", "2", "")]),
            Err(RowError::Duplicate("a".into()))
        );
    }

    #[test]
    fn pair_rows() {
        let row = |provider: &str, value: &str| PairRow {
            id: 0,
            provider: provider.into(),
            value: value.into(),
        };
        assert_eq!(
            pairs_to_json(&[row(" openai ", " socks5://h:1 "), row("x", "  ")]),
            Ok(json!({"openai": "socks5://h:1"}))
        );
        assert_eq!(
            pairs_to_json(&[row("", "round-robin")]),
            Err(RowError::MissingProvider)
        );
        assert_eq!(
            pairs_to_json(&[row("a", "random"), row("a", "least-used")]),
            Err(RowError::Duplicate("a".into()))
        );
        let mut next = 10;
        let rows = pairs_from_json(Some(&json!({"a": "random", "b": "fill-first"})), &mut next);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [11, 12]);
        assert_eq!(
            pairs_to_json(&rows),
            Ok(json!({"a": "random", "b": "fill-first"}))
        );
        assert!(pairs_from_json(None, &mut next).is_empty());
    }

    #[test]
    fn validation_messages_name_their_setting() {
        let keys = [
            "cooldown_base_secs",
            "cooldown_max_secs",
            "proxy",
            "provider_proxies",
        ];
        assert_eq!(
            field_of_error(
                "cooldown_max_secs must be between cooldown_base_secs and 86400",
                &keys
            ),
            Some("cooldown_max_secs")
        );
        assert_eq!(
            field_of_error("provider_proxies.openai: `x` is not a URL", &keys),
            Some("provider_proxies")
        );
        assert_eq!(field_of_error("proxy: bad scheme", &keys), Some("proxy"));
        assert_eq!(field_of_error("something else", &keys), None);
    }

    #[test]
    fn file_names() {
        assert_eq!(file_stamp("2026-11-28 18:30:05"), "20261128-183005");
        assert_eq!(
            attachment_name(r#"attachment; filename="omniroute-backup-20261128-183005.sqlite""#),
            Some("omniroute-backup-20261128-183005.sqlite".into())
        );
        assert_eq!(
            attachment_name("attachment; filename=a.db; size=3"),
            Some("a.db".into())
        );
        assert_eq!(
            attachment_name(r#"attachment; filename="../../etc/x""#),
            Some("x".into())
        );
        assert_eq!(attachment_name("inline"), None);
    }
}
