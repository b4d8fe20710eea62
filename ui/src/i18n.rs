//! Messages in six languages: every visible string comes from `ui/locales/<lang>/<area>.json`.
//!
//! A file's keys are stored as `<area>.<key>`, so `locales/en/providers.json`'s
//! `"title"` is `t("providers.title")`. A key missing in a language falls back
//! to English (and the unit tests make sure none is missing).

use std::cell::RefCell;
use std::collections::HashMap;

use leptos::prelude::*;

/// A language the dashboard speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Vi,
    PtBr,
    Es,
    ZhCn,
    Ar,
}

impl Lang {
    pub const ALL: [Lang; 6] = [
        Lang::En,
        Lang::Vi,
        Lang::PtBr,
        Lang::Es,
        Lang::ZhCn,
        Lang::Ar,
    ];

    /// The BCP 47 tag, also the folder name under `locales/`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Vi => "vi",
            Lang::PtBr => "pt-BR",
            Lang::Es => "es",
            Lang::ZhCn => "zh-CN",
            Lang::Ar => "ar",
        }
    }

    /// The language's own name, for the selector.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Vi => "Tiếng Việt",
            Lang::PtBr => "Português (Brasil)",
            Lang::Es => "Español",
            Lang::ZhCn => "简体中文",
            Lang::Ar => "العربية",
        }
    }

    /// Text direction: Arabic is written right to left.
    pub fn dir(self) -> &'static str {
        if self == Lang::Ar { "rtl" } else { "ltr" }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code))
    }

    /// The best match for a browser language tag such as `pt-PT` or `zh-Hans-CN`.
    pub fn from_browser(tag: &str) -> Option<Lang> {
        if let Some(lang) = Lang::from_code(tag) {
            return Some(lang);
        }
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "vi" => Some(Lang::Vi),
            "pt" => Some(Lang::PtBr),
            "es" => Some(Lang::Es),
            "zh" => Some(Lang::ZhCn),
            "ar" => Some(Lang::Ar),
            _ => None,
        }
    }
}

/// Every message file, per language and area, compiled in.
macro_rules! message_files {
    ($($area:literal),* $(,)?) => {
        fn files(lang: Lang) -> Vec<(&'static str, &'static str)> {
            match lang {
                Lang::En => vec![$(($area, include_str!(concat!("../locales/en/", $area, ".json")))),*],
                Lang::Vi => vec![$(($area, include_str!(concat!("../locales/vi/", $area, ".json")))),*],
                Lang::PtBr => vec![$(($area, include_str!(concat!("../locales/pt-BR/", $area, ".json")))),*],
                Lang::Es => vec![$(($area, include_str!(concat!("../locales/es/", $area, ".json")))),*],
                Lang::ZhCn => vec![$(($area, include_str!(concat!("../locales/zh-CN/", $area, ".json")))),*],
                Lang::Ar => vec![$(($area, include_str!(concat!("../locales/ar/", $area, ".json")))),*],
            }
        }
    };
}

message_files!(
    "common",
    "login",
    "overview",
    "providers",
    "combos",
    "keys",
    "analytics",
    "logs",
    "health",
    "translator",
    "tools",
    "settings",
);

/// One language's messages, keyed `<area>.<key>`. A file that does not parse
/// contributes nothing (the unit tests make sure every file parses).
fn load(lang: Lang) -> HashMap<String, String> {
    let mut messages = HashMap::new();
    for (area, text) in files(lang) {
        let Ok(map) = serde_json::from_str::<HashMap<String, String>>(text) else {
            continue;
        };
        for (key, value) in map {
            messages.insert(format!("{area}.{key}"), value);
        }
    }
    messages
}

thread_local! {
    static CATALOG: RefCell<HashMap<Lang, HashMap<String, String>>> = RefCell::new(HashMap::new());
    static CURRENT: RwSignal<Lang> = RwSignal::new(Lang::En);
}

/// The message for `key` in `lang`, else English, else the key itself.
pub fn message(lang: Lang, key: &str) -> String {
    CATALOG.with(|catalog| {
        let mut catalog = catalog.borrow_mut();
        let found = catalog
            .entry(lang)
            .or_insert_with(|| load(lang))
            .get(key)
            .cloned();
        found.unwrap_or_else(|| {
            catalog
                .entry(Lang::En)
                .or_insert_with(|| load(Lang::En))
                .get(key)
                .cloned()
                .unwrap_or_else(|| key.to_owned())
        })
    })
}

/// The reactive current language.
pub fn current() -> RwSignal<Lang> {
    CURRENT.with(|c| *c)
}

/// The message for `key` in the current language; inside a view closure it
/// re-renders when the language changes.
pub fn t(key: &str) -> String {
    message(current().get(), key)
}

/// [`t`] with `{name}` placeholders filled in.
pub fn t_with(key: &str, args: &[(&str, String)]) -> String {
    fill(&t(key), args)
}

/// Replaces each `{name}` in `template` with its value.
pub fn fill(template: &str, args: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// [`t`] without subscribing to language changes: for event handlers and
/// other code outside a view.
pub fn t_now(key: &str) -> String {
    message(current().get_untracked(), key)
}

/// A view-ready closure for `key`: `{tr("nav.providers")}`.
pub fn tr(key: &'static str) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    move || t(key)
}

const STORAGE_KEY: &str = "omniroute.lang";

/// Picks the saved language, else the browser's, else English, and applies it.
pub fn init() {
    let saved = crate::browser::local_get(STORAGE_KEY).and_then(|c| Lang::from_code(&c));
    let lang = saved
        .or_else(|| crate::browser::navigator_language().and_then(|l| Lang::from_browser(&l)))
        .unwrap_or(Lang::En);
    set_language(lang, false);
}

/// Switches language, sets `<html lang dir>` and, when `persist`, remembers it.
pub fn set_language(lang: Lang, persist: bool) {
    current().set(lang);
    crate::browser::set_html_attr("lang", lang.code());
    crate::browser::set_html_attr("dir", lang.dir());
    if persist {
        crate::browser::local_set(STORAGE_KEY, lang.code());
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn placeholders(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            found.insert(rest[start..start + len + 1].to_owned());
            rest = &rest[start + len + 1..];
        }
        found
    }

    #[test]
    fn every_file_parses_as_a_flat_string_map() {
        for lang in Lang::ALL {
            for (area, text) in files(lang) {
                let parsed = serde_json::from_str::<HashMap<String, String>>(text);
                assert!(
                    parsed.is_ok(),
                    "locales/{}/{area}.json: {parsed:?}",
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn every_language_has_every_english_key_and_no_other() {
        let english = load(Lang::En);
        assert!(english.len() > 50, "English has {} messages", english.len());
        for lang in Lang::ALL {
            let messages = load(lang);
            let missing: Vec<_> = english
                .keys()
                .filter(|k| !messages.contains_key(*k))
                .collect();
            let extra: Vec<_> = messages
                .keys()
                .filter(|k| !english.contains_key(*k))
                .collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.code());
            assert!(
                extra.is_empty(),
                "{} has unknown keys {extra:?}",
                lang.code()
            );
        }
    }

    #[test]
    fn translations_are_not_empty_and_keep_the_placeholders() {
        let english = load(Lang::En);
        for lang in Lang::ALL {
            for (key, value) in load(lang) {
                assert!(!value.trim().is_empty(), "{} {key} is empty", lang.code());
                let expected = placeholders(&english[&key]);
                assert_eq!(placeholders(&value), expected, "{} {key}", lang.code());
            }
        }
    }

    #[test]
    fn lookup_falls_back_to_english_then_to_the_key() {
        assert_eq!(message(Lang::Ar, "no.such.key"), "no.such.key");
        assert_eq!(message(Lang::En, "common.save"), "Save");
        assert_ne!(message(Lang::Ar, "common.save"), "Save");
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(
                "{n} of {total} used",
                &[("n", "3".into()), ("total", "10".into())]
            ),
            "3 of 10 used"
        );
    }

    #[test]
    fn browser_tags_map_to_a_language() {
        assert_eq!(Lang::from_browser("pt-PT"), Some(Lang::PtBr));
        assert_eq!(Lang::from_browser("zh-Hans-CN"), Some(Lang::ZhCn));
        assert_eq!(Lang::from_browser("ar-EG"), Some(Lang::Ar));
        assert_eq!(Lang::from_browser("en_US"), Some(Lang::En));
        assert_eq!(Lang::from_browser("de-DE"), None);
        assert_eq!(Lang::Ar.dir(), "rtl");
        assert_eq!(Lang::Es.dir(), "ltr");
    }

    /// Every `"area.key"` literal in the sources names an English message,
    /// so no screen ever shows a raw key.
    #[test]
    fn every_key_the_code_uses_exists_in_english() {
        let english = load(Lang::En);
        let areas: BTreeSet<&str> = files(Lang::En).into_iter().map(|(a, _)| a).collect();
        let mut missing = BTreeSet::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut checked = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for literal in text.split('"').skip(1).step_by(2) {
                    let Some((area, key)) = literal.split_once('.') else {
                        continue;
                    };
                    let is_key = !key.is_empty()
                        && !key.ends_with('_')
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                    if areas.contains(area) && is_key {
                        checked += 1;
                        if !english.contains_key(literal) {
                            missing.insert(format!("{literal} ({})", path.display()));
                        }
                    }
                }
            }
        }
        assert!(checked > 300, "only {checked} keys found in the sources");
        assert!(
            missing.is_empty(),
            "keys without an English message: {missing:#?}"
        );
    }
}
