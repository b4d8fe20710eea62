//! The audit log tab: who changed what through the management API, newest first, page by page.

use leptos::prelude::*;
use serde::Deserialize;

use super::{Paged, load_page, paged_footer, paged_state, status_tone};
use crate::browser;
use crate::i18n::tr;

/// One entry of `GET /api/audit`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AuditRow {
    pub id: i64,
    pub ts_ms: i64,
    /// `session`, `key:<id>`, `cli`… as the gateway names who acted.
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub summary: Option<String>,
}

/// The badge tone of an HTTP method: deletions stand out.
pub fn method_tone(method: &str) -> &'static str {
    match method {
        "DELETE" => "bad",
        "POST" | "PUT" | "PATCH" => "info",
        _ => "muted",
    }
}

fn audit_row(row: AuditRow) -> impl IntoView {
    let dash = || "—".to_owned();
    view! {
        <tr data-testid="audit-row" data-id=row.id.to_string()>
            <td class="logs-nowrap"><span dir="ltr">{browser::local_datetime(row.ts_ms)}</span></td>
            <td>{row.actor.filter(|a| !a.is_empty()).unwrap_or_else(dash)}</td>
            <td class="mono"><span dir="ltr">{row.ip.filter(|a| !a.is_empty()).unwrap_or_else(dash)}</span></td>
            <td class="logs-request-line">
                <span class=format!("badge badge-{}", method_tone(&row.method))>{row.method.clone()}</span>
                " "
                <span class="mono" dir="ltr">{row.path}</span>
            </td>
            <td><span class=format!("badge badge-{}", status_tone(row.status))>{row.status.to_string()}</span></td>
            <td class="logs-summary">{row.summary.filter(|s| !s.is_empty()).unwrap_or_else(dash)}</td>
        </tr>
    }
}

#[component]
pub fn AuditTab() -> impl IntoView {
    let state = RwSignal::new(Paged::<AuditRow>::default());
    load_page(state, "/api/audit", Vec::new(), true);
    let more = move || load_page(state, "/api/audit", Vec::new(), false);
    let rows = Memo::new(move |_| state.with(|p| p.rows.clone()));
    view! {
        <div class="logs-toolbar">
            <p class="muted small logs-lede">{tr("logs.audit_intro")}</p>
            <div class="spacer"></div>
            <button class="btn" data-testid="audit-refresh" on:click=move |_| load_page(state, "/api/audit", Vec::new(), true)>
                {tr("common.refresh")}
            </button>
        </div>
        <div class="card logs-card">
            {move || state.with(|p| paged_state(p, "logs.audit_empty"))}
            <Show when=move || rows.with(|r| !r.is_empty())>
                <div class="table-wrap">
                    <table class="logs-table" data-testid="audit-table">
                        <thead>
                            <tr>
                                <th>{tr("logs.col_time")}</th>
                                <th>{tr("logs.col_actor")}</th>
                                <th>{tr("logs.col_ip")}</th>
                                <th>{tr("logs.col_request")}</th>
                                <th>{tr("logs.col_status")}</th>
                                <th>{tr("logs.col_summary")}</th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=move || rows.get() key=|r| r.id let:row>
                                {audit_row(row)}
                            </For>
                        </tbody>
                    </table>
                </div>
            </Show>
            {paged_footer(state, "audit-more", more)}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_rows_read_with_nulls_and_new_fields() {
        let text = r#"{"data":[{"id":3,"ts_ms":1795890605000,"actor":"session","ip":null,
            "method":"DELETE","path":"/api/keys/2","status":204,"summary":null,"extra":true}],
            "next_before_id":3}"#;
        let page: super::super::PageReply<AuditRow> = serde_json::from_str(text).unwrap();
        assert_eq!(page.next_before_id, Some(3));
        let row = &page.data[0];
        assert_eq!(row.actor.as_deref(), Some("session"));
        assert_eq!(row.ip, None);
        assert_eq!(row.method, "DELETE");
        assert_eq!(row.status, 204);
    }

    #[test]
    fn methods_have_tones() {
        assert_eq!(method_tone("DELETE"), "bad");
        assert_eq!(method_tone("PATCH"), "info");
        assert_eq!(method_tone("POST"), "info");
        assert_eq!(method_tone("GET"), "muted");
    }
}
