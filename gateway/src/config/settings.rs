//! Typed runtime settings with their defaults and validation.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Settings a user can change at run time (`/api/settings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Data-plane requests need a gateway API key. Binding a non-loopback
    /// address is refused while this is off.
    pub require_api_key: bool,
    /// Largest accepted request body.
    pub max_body_bytes: u64,
    /// Usage records older than this are pruned.
    pub usage_retention_days: u32,
    /// How long to wait for an upstream's response headers.
    pub upstream_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_api_key: true,
            max_body_bytes: 32 * 1024 * 1024,
            usage_retention_days: 90,
            upstream_timeout_secs: 600,
        }
    }
}

impl Settings {
    /// Settings from stored rows; unknown or invalid rows fall back to defaults
    /// so that one bad row never stops the gateway.
    pub fn from_stored(stored: &Map<String, Value>) -> Settings {
        let mut settings = Settings::default();
        for (key, value) in stored {
            match settings.with_patch(&Map::from_iter([(key.clone(), value.clone())])) {
                Ok(next) => settings = next,
                Err(e) => tracing::warn!(key, error = %e, "ignoring stored setting"),
            }
        }
        settings
    }

    /// These settings with `patch` applied, or a message naming the bad field.
    pub fn with_patch(&self, patch: &Map<String, Value>) -> Result<Settings, String> {
        let mut merged = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (key, value) in patch {
            if !merged.contains_key(key) {
                return Err(format!("unknown setting `{key}`"));
            }
            merged.insert(key.clone(), value.clone());
        }
        let next: Settings =
            serde_json::from_value(Value::Object(merged)).map_err(|e| e.to_string())?;
        next.validate()?;
        Ok(next)
    }

    fn validate(&self) -> Result<(), String> {
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err("max_body_bytes must be between 1024 and 1073741824".into());
        }
        if !(1..=3650).contains(&self.usage_retention_days) {
            return Err("usage_retention_days must be between 1 and 3650".into());
        }
        if !(1..=3600).contains(&self.upstream_timeout_secs) {
            return Err("upstream_timeout_secs must be between 1 and 3600".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn patch_validates_names_types_and_ranges() {
        let s = Settings::default();
        assert_eq!(
            s.with_patch(&patch(json!({"usage_retention_days": 7})))
                .unwrap()
                .usage_retention_days,
            7
        );
        assert!(
            s.with_patch(&patch(json!({"nope": 1})))
                .unwrap_err()
                .contains("unknown setting `nope`")
        );
        assert!(
            s.with_patch(&patch(json!({"usage_retention_days": "x"})))
                .is_err()
        );
        assert!(
            s.with_patch(&patch(json!({"usage_retention_days": 0})))
                .is_err()
        );
    }

    #[test]
    fn bad_stored_rows_fall_back_to_defaults() {
        let stored = patch(json!({"max_body_bytes": 5, "usage_retention_days": 30, "old": true}));
        let s = Settings::from_stored(&stored);
        assert_eq!(s.max_body_bytes, Settings::default().max_body_bytes);
        assert_eq!(s.usage_retention_days, 30);
    }
}
