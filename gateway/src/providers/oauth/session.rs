//! Live OAuth tokens per account: renewed before they expire, one renewal at a time per account however many requests wait, and each renewal saved before it is used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use super::token::{self, TokenError};
use super::{OAuthDef, RefreshKind, TokenSet};
use crate::clock::Clock;
use crate::providers::upstream::UpstreamClient;
use crate::snapshot::Account;
use crate::store::Store;

/// One account's live tokens.
struct Live {
    tokens: ArcSwap<TokenSet>,
    /// Held while a renewal runs: requests that find the token due wait on
    /// it, then use the renewed token instead of renewing again.
    renewing: tokio::sync::Mutex<()>,
}

/// Every OAuth account's live tokens, by connection id. Kept outside the
/// snapshot so a configuration reload does not forget a renewal.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<i64, Arc<Live>>>,
}

impl Sessions {
    /// The live entry of an account; the stored set replaces it when it
    /// is newer (the user signed in again).
    fn live(&self, account_id: i64, stored: &Arc<TokenSet>) -> Arc<Live> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = live.entry(account_id).or_insert_with(|| {
            Arc::new(Live {
                tokens: ArcSwap::new(stored.clone()),
                renewing: tokio::sync::Mutex::new(()),
            })
        });
        if entry.tokens.load().obtained_at_ms < stored.obtained_at_ms {
            entry.tokens.store(stored.clone());
        }
        entry.clone()
    }

    /// Forgets accounts that no longer exist.
    pub fn retain(&self, keep: impl Fn(i64) -> bool) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| keep(*id));
    }

    /// The account's tokens, renewed first when they are due. A renewal
    /// that fails while the old token still works uses the old token.
    pub async fn fresh(
        &self,
        account: &Account,
        def: &OAuthDef,
        upstream: &UpstreamClient,
        store: &Store,
        clock: &Clock,
    ) -> Result<Arc<TokenSet>, TokenError> {
        let Some(stored) = &account.oauth else {
            return Err(TokenError {
                permanent: true,
                message: "the account holds no OAuth tokens".into(),
            });
        };
        let live = self.live(account.id, stored);
        let current = live.tokens.load_full();
        if !current.is_due(clock.now_ms()) {
            return Ok(current);
        }
        let _renewing = live.renewing.lock().await;
        // Another request may have renewed while this one waited.
        let current = live.tokens.load_full();
        if !current.is_due(clock.now_ms()) {
            return Ok(current);
        }
        if def.refresh == RefreshKind::None {
            return Ok(current);
        }
        let http = upstream
            .client_for(account.proxy.as_deref())
            .map_err(|e| TokenError {
                permanent: false,
                message: e.to_string(),
            })?;
        match token::refresh(&http, def, &current, clock.now_ms()).await {
            Ok(renewed) => {
                let renewed = Arc::new(renewed);
                // Saved before use: providers rotate refresh tokens, so a
                // renewal lost in a crash would lose the account.
                save(store, account.id, &renewed).await?;
                live.tokens.store(renewed.clone());
                tracing::info!(connection = account.id, provider = %account.provider, "OAuth token renewed");
                Ok(renewed)
            }
            Err(e) if !e.permanent && current.expires_at_ms > Some(clock.now_ms()) => {
                tracing::warn!(connection = account.id, error = %e, "OAuth renewal failed; the current token still works");
                Ok(current)
            }
            Err(e) => Err(e),
        }
    }
}

/// Seals and stores an account's renewed tokens.
async fn save(store: &Store, id: i64, tokens: &TokenSet) -> Result<(), TokenError> {
    let json = tokens.to_json();
    store
        .call(move |conn, secrets| crate::store::connections::set_oauth(conn, secrets, id, &json))
        .await
        .map_err(|e| TokenError {
            permanent: false,
            message: format!("cannot save the renewed token: {e}"),
        })
}
