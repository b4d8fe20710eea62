//! `/api/connections`: provider accounts with their routing fields (tier, proxy, quota, state), and the connection test.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, Id, json_body, optional_json_body};
use crate::api::App;
use crate::config::file::is_http_url;
use crate::config::settings::check_proxy_url;
use crate::error::ApiError;
use crate::providers::Tier;
use crate::providers::oauth::TokenSet;
use crate::routing::quota::QuotaLimit;
use crate::snapshot::Account;
use crate::store::connections::{self, ConnectionInput, ConnectionPatch, ConnectionRow};
use crate::store::{SecretBox, StoreResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub(super) provider: String,
    pub(super) name: String,
    pub(super) api_key: Option<String>,
    pub(super) api_key_env: Option<String>,
    pub(super) base_url: Option<String>,
    #[serde(default = "one")]
    pub(super) priority: i64,
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    /// Overrides the provider's fallback tier.
    pub(super) tier: Option<Tier>,
    pub(super) proxy: Option<String>,
    #[serde(default)]
    pub(super) quota: Vec<QuotaLimit>,
}

fn one() -> i64 {
    1
}

fn yes() -> bool {
    true
}

/// A partial update. A field given as `null` is cleared.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    api_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    api_key_env: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    base_url: Option<Option<String>>,
    priority: Option<i64>,
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    tier: Option<Option<Tier>>,
    #[serde(default, deserialize_with = "some")]
    proxy: Option<Option<String>>,
    /// `null` is the same as `[]`: no limits.
    #[serde(default, deserialize_with = "some")]
    quota: Option<Option<Vec<QuotaLimit>>>,
    /// Only `null` (clear a terminal state): the gateway sets states itself.
    #[serde(default, deserialize_with = "some")]
    state: Option<Option<Value>>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn some<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    model: Option<String>,
}

/// A connection as the API shows it: never the key, only a preview.
/// An OAuth account shows when its access token expires instead.
fn view(row: &ConnectionRow, secrets: &SecretBox) -> Value {
    let secret = connections::resolve_key(row, secrets).ok().flatten();
    let mut v = serde_json::to_value(row).unwrap_or_default();
    if row.oauth {
        let tokens = secret.as_deref().and_then(TokenSet::from_json);
        v["has_api_key"] = json!(false);
        v["api_key_preview"] = Value::Null;
        v["token_expires_at_ms"] = json!(tokens.as_ref().and_then(|t| t.expires_at_ms));
        v["plan"] = json!(tokens.and_then(|t| t.plan));
    } else {
        let preview = secret.as_deref().map(connections::preview);
        v["has_api_key"] = json!(preview.is_some());
        v["api_key_preview"] = json!(preview);
    }
    v
}

/// A proxy URL reqwest can use; an empty string means none.
fn check_proxy(proxy: Option<String>) -> Result<Option<String>, ApiError> {
    match proxy
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
    {
        Some(p) => check_proxy_url(&p)
            .map(|()| Some(p))
            .map_err(|e| ApiError::bad_request(format!("proxy: {e}")).with_param("proxy")),
        None => Ok(None),
    }
}

fn check_quota(quota: &[QuotaLimit]) -> Result<(), ApiError> {
    connections::check_quota(quota).map_err(|e| ApiError::bad_request(e).with_param("quota"))
}

fn check_url(url: Option<&str>) -> Result<(), ApiError> {
    match url {
        Some(u) if !is_http_url(u) => Err(ApiError::bad_request(
            "base_url must be an http:// or https:// URL",
        )
        .with_param("base_url")),
        _ => Ok(()),
    }
}

pub async fn list(_: Admin, State(app): State<App>) -> Result<Response, ApiError> {
    let data = app
        .store
        .call(|conn, secrets| -> StoreResult<Vec<Value>> {
            Ok(connections::list(conn)?
                .iter()
                .map(|r| view(r, secrets))
                .collect())
        })
        .await?;
    Ok(Json(json!({"data": data})).into_response())
}

pub async fn get_one(_: Admin, State(app): State<App>, Id(id): Id) -> Result<Response, ApiError> {
    let v = app
        .store
        .call(move |conn, secrets| Ok(view(&connections::get(conn, id)?, secrets)))
        .await?;
    Ok(Json(v).into_response())
}

/// Checks a new account's fields by the rules of `POST /api/connections`;
/// `provider` is the provider's id, already resolved from `body.provider`.
pub(super) fn checked_input(
    provider: String,
    body: CreateBody,
) -> Result<ConnectionInput, ApiError> {
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("name must not be empty").with_param("name"));
    }
    if body.api_key.is_some() && body.api_key_env.is_some() {
        return Err(ApiError::bad_request(
            "give api_key or api_key_env, not both",
        ));
    }
    check_url(body.base_url.as_deref())?;
    let proxy = check_proxy(body.proxy)?;
    check_quota(&body.quota)?;
    Ok(ConnectionInput {
        provider,
        name: body.name,
        api_key: body.api_key,
        api_key_env: body.api_key_env,
        base_url: body.base_url.map(|u| u.trim_end_matches('/').to_string()),
        priority: body.priority,
        enabled: body.enabled,
        tier: body.tier,
        proxy,
        quota: body.quota,
    })
}

pub async fn create(_: Admin, State(app): State<App>, body: Body) -> Result<Response, ApiError> {
    let body: CreateBody = json_body(body).await?;
    let snapshot = app.snapshot.load();
    let provider = snapshot
        .provider_by_name(&body.provider)
        .ok_or_else(|| {
            ApiError::bad_request(format!("unknown provider `{}`", body.provider))
                .with_param("provider")
        })?
        .id
        .clone();
    let input = checked_input(provider, body)?;
    let v = app
        .store
        .call(move |conn, secrets| {
            Ok(view(
                &connections::insert(conn, secrets, &input, "api")?,
                secrets,
            ))
        })
        .await?;
    app.reload().await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn update(
    _: Admin,
    State(app): State<App>,
    Id(id): Id,
    body: Body,
) -> Result<Response, ApiError> {
    let body: PatchBody = json_body(body).await?;
    check_url(body.base_url.as_ref().and_then(Option::as_deref))?;
    if body.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(ApiError::bad_request("name must not be empty").with_param("name"));
    }
    let clear_state = match body.state {
        None => false,
        Some(None) => true,
        Some(Some(_)) => {
            return Err(ApiError::bad_request(
                "state can only be cleared (`\"state\": null`); the gateway sets it when an upstream refuses the account",
            )
            .with_param("state"));
        }
    };
    let proxy = match body.proxy {
        Some(p) => Some(check_proxy(p)?),
        None => None,
    };
    let quota = body.quota.map(Option::unwrap_or_default);
    if let Some(q) = &quota {
        check_quota(q)?;
    }
    let patch = ConnectionPatch {
        name: body.name,
        api_key: body.api_key,
        api_key_env: body.api_key_env,
        base_url: body
            .base_url
            .map(|u| u.map(|u| u.trim_end_matches('/').to_string())),
        priority: body.priority,
        enabled: body.enabled,
        tier: body.tier,
        proxy,
        quota,
        clear_state,
    };
    let v = app
        .store
        .call(move |conn, secrets| {
            Ok(view(
                &connections::update(conn, secrets, id, &patch)?,
                secrets,
            ))
        })
        .await?;
    app.reload().await?;
    Ok(Json(v).into_response())
}

pub async fn delete(_: Admin, State(app): State<App>, Id(id): Id) -> Result<Response, ApiError> {
    app.store
        .call(move |conn, _| connections::delete(conn, id))
        .await?;
    app.reload().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Tries the connection against its upstream (`/models`, else a 1-token chat).
pub async fn test(
    _: Admin,
    State(app): State<App>,
    Id(id): Id,
    body: Body,
) -> Result<Response, ApiError> {
    let body: TestBody = optional_json_body(body).await?;
    let (row, api_key) = app
        .store
        .call(move |conn, secrets| {
            let row = connections::get(conn, id)?;
            let key = connections::resolve_key(&row, secrets)?;
            Ok((row, key))
        })
        .await?;
    let snapshot = app.snapshot.load();
    let provider = snapshot
        .provider_by_name(&row.provider)
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "the provider `{}` of this connection no longer exists",
                row.provider
            ))
        })?
        .clone();
    let account = Account::new(
        &row,
        &provider,
        api_key,
        &snapshot.settings,
        app.store.secrets(),
    )
    .map_err(ApiError::bad_request)?;
    let result = if account.oauth.is_some() {
        crate::api::oauth::test_account(&app, &provider, &account, body.model.as_deref()).await
    } else {
        app.upstream
            .test_account(&provider, &account, body.model.as_deref())
            .await
    };
    Ok(Json(result).into_response())
}
