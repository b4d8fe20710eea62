//! The detail drawer of one request: every recorded field, the failed attempts before the answer, and the logged bodies.

use leptos::prelude::*;
use leptos_router::components::A;
use serde::Deserialize;

use super::{Hop, UsageRow, pretty_body, served_key, status_tone, stream_label};
use crate::api;
use crate::browser;
use crate::components::{Drawer, resolved};
use crate::format;
use crate::i18n::{t_with, tr};

/// `GET /api/usage/{id}`: the row plus its bodies (null unless `log_bodies` was on).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsageDetail {
    #[serde(flatten)]
    pub row: UsageRow,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
}

/// `value`, or a dash when there is none.
fn or_dash(value: Option<String>) -> String {
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "—".into())
}

/// The label/value pairs of the field list, in reading order.
pub fn fields(row: &UsageRow) -> Vec<(&'static str, String)> {
    vec![
        ("logs.f_id", row.id.to_string()),
        ("logs.f_time", browser::local_datetime(row.ts)),
        (
            "logs.f_requested_model",
            or_dash(Some(row.requested_model.clone())),
        ),
        ("logs.f_upstream_model", or_dash(row.upstream_model.clone())),
        ("logs.f_provider", or_dash(row.provider.clone())),
        (
            "logs.f_connection",
            or_dash(row.connection_id.map(|id| format!("#{id}"))),
        ),
        ("logs.f_tier", or_dash(row.tier.clone())),
        ("logs.f_format", or_dash(Some(row.inbound_format.clone()))),
        (
            "logs.f_api_key",
            or_dash(row.api_key_id.map(|id| format!("#{id}"))),
        ),
        (
            "logs.f_input_tokens",
            format::group_thousands(row.input_tokens),
        ),
        (
            "logs.f_output_tokens",
            format::group_thousands(row.output_tokens),
        ),
        (
            "logs.f_cached_tokens",
            format::group_thousands(row.cached_tokens),
        ),
        (
            "logs.f_reasoning_tokens",
            format::group_thousands(row.reasoning_tokens),
        ),
        ("logs.f_cost", format::usd(row.cost)),
        ("logs.f_latency", format::millis(row.latency_ms)),
        ("logs.f_ttft", or_dash(row.ttft_ms.map(format::millis))),
    ]
}

fn hop_item(index: usize, hop: Hop) -> impl IntoView {
    let status = match hop.status {
        Some(code) => view! {
            <span class=format!("badge badge-{}", status_tone(code))>{code.to_string()}</span>
        }
        .into_any(),
        None => {
            view! { <span class="badge badge-muted">{tr("logs.hop_no_answer")}</span> }.into_any()
        }
    };
    view! {
        <li class="logs-hop" data-testid="log-hop">
            <div class="row">
                <span class="logs-hop-n">{(index + 1).to_string()}</span>
                <span class="mono" dir="ltr">{format!("{}/{}", hop.provider, hop.model)}</span>
                {hop.connection_id.map(|id| view! { <span class="muted small">{format!("#{id}")}</span> })}
                {status}
            </div>
            <div class="logs-hop-error">{hop.error}</div>
        </li>
    }
}

fn body_block(title: &'static str, testid: &'static str, body: Option<String>) -> impl IntoView {
    view! {
        <section class="logs-body">
            <h3>{tr(title)}</h3>
            {match body {
                Some(text) => view! { <pre data-testid=testid dir="ltr">{pretty_body(&text)}</pre> }.into_any(),
                None => view! { <p class="muted small">{tr("logs.body_missing")}</p> }.into_any(),
            }}
        </section>
    }
}

fn detail_view(detail: UsageDetail) -> impl IntoView {
    let UsageDetail {
        row,
        request_body,
        response_body,
    } = detail;
    let served = served_key(row.served_from.as_deref());
    let hops = row.hops.clone();
    let hop_count = hops.len();
    let pairs = fields(&row)
        .into_iter()
        .map(|(key, value)| {
            view! {
                <dt>{tr(key)}</dt>
                <dd><span dir="ltr">{value}</span></dd>
            }
        })
        .collect_view();
    let hops_view = if hops.is_empty() {
        view! { <p class="muted small">{tr("logs.no_hops")}</p> }.into_any()
    } else {
        view! {
            <p class="muted small">{move || t_with("logs.hops_title", &[("n", hop_count.to_string())])}</p>
            <ol class="logs-hops" data-testid="log-hops">
                {hops.into_iter().enumerate().map(|(i, h)| hop_item(i, h)).collect_view()}
            </ol>
        }
        .into_any()
    };
    let bodies = if request_body.is_none() && response_body.is_none() {
        view! {
            <p class="logs-note" data-testid="log-bodies-off">
                {tr("logs.bodies_off")}" "
                <A href="/dashboard/settings">{tr("logs.bodies_settings")}</A>
            </p>
        }
        .into_any()
    } else {
        view! {
            {body_block("logs.request_body", "log-request-body", request_body)}
            {body_block("logs.response_body", "log-response-body", response_body)}
        }
        .into_any()
    };
    view! {
        <div class="stack" data-testid="log-detail" data-id=row.id.to_string()>
            <div class="row">
                <span class=format!("badge badge-{}", status_tone(row.status)) data-testid="log-detail-status">
                    {row.status.to_string()}
                </span>
                <span class="badge badge-muted">{tr(served)}</span>
                {stream_label(row.stream)}
            </div>
            {row.error.clone().map(|e| view! { <div class="error-box" data-testid="log-detail-error">{e}</div> })}
            <dl class="logs-fields">{pairs}</dl>
            <section>
                <h3>{tr("logs.route")}</h3>
                {hops_view}
            </section>
            {bodies}
        </div>
    }
}

/// The drawer; Escape closes it too.
#[component]
pub fn DetailDrawer(id: i64, on_close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let detail = LocalResource::new(move || async move {
        api::get::<UsageDetail>(&format!("/api/usage/{id}")).await
    });
    let escape = {
        let close = on_close.clone();
        window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.key() == "Escape" {
                close();
            }
        })
    };
    on_cleanup(move || escape.remove());
    let title = Signal::derive(move || t_with("logs.detail_title", &[("id", id.to_string())]));
    view! {
        <Drawer title=title on_close=on_close>
            {move || resolved(detail.get(), detail_view)}
        </Drawer>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_reads_the_row_and_its_bodies() {
        let text = r#"{"id":4,"requested_model":"m","status":502,"error":"upstream down",
            "hops":[],"request_body":"{\"model\":\"m\"}","response_body":null}"#;
        let detail: UsageDetail = serde_json::from_str(text).unwrap();
        assert_eq!(detail.row.id, 4);
        assert_eq!(detail.row.status, 502);
        assert_eq!(detail.request_body.as_deref(), Some("{\"model\":\"m\"}"));
        assert_eq!(detail.response_body, None);
    }

    #[test]
    fn every_field_has_a_value_even_when_missing() {
        let row = UsageRow {
            id: 9,
            requested_model: "fast".into(),
            connection_id: Some(3),
            ttft_ms: None,
            input_tokens: 1234,
            ..UsageRow::default()
        };
        let fields = fields(&row);
        let value = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(value("logs.f_id"), "9");
        assert_eq!(value("logs.f_requested_model"), "fast");
        assert_eq!(value("logs.f_upstream_model"), "—");
        assert_eq!(value("logs.f_connection"), "#3");
        assert_eq!(value("logs.f_ttft"), "—");
        assert_eq!(value("logs.f_input_tokens"), "1,234");
        assert!(fields.iter().all(|(_, v)| !v.is_empty()));
    }
}
