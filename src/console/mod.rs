//! The privacy officers' web console: the audit use cases of [`crate::exchange`] (subject
//! reports, queries, verification) and the policy in force, as HTML pages in a browser; and,
//! for the programme monitor's people, the monitor's report with a chart per figure.
//!
//! - [`listener`]: TLS with the gateway's own certificate, on a listener of its own.
//! - [`session`] and [`csrf`]: sign-in with an officer's or a monitor's JWT, sessions in
//!   memory, and the tokens every state-changing form carries; [`throttle`]: sign-ins per
//!   client address.
//! - [`layout`]: the page shell, the embedded style sheet and the security headers.
//! - [`chart`]: bar charts drawn on the server as inline SVG.
//! - [`pages`]: one file per page.
//! - [`logboek`]: the Logboek Dataverwerkingen read API, for the officers' own tools.
//!
//! It sits beside [`crate::api`]: another face on the same use cases, scoped and audited the
//! same way. Nothing below it knows it. No script runs in its pages, no asset comes from
//! elsewhere, and no personal data is ever in a URL: case references and identifiers travel
//! in POST bodies and are hashed by the use cases.

mod chart;
mod csrf;
mod error;
mod layout;
mod listener;
mod logboek;
mod pages;
mod session;
mod throttle;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ConsoleError;

use crate::{config::ConsoleConfig, exchange::Exchange, identity::tls::TlsFiles, policy::Policy};

/// What every page handler shares.
#[derive(Clone)]
pub struct Console {
    exchange: Arc<Exchange>,
    sessions: Arc<session::Sessions>,
    sign_ins: Arc<throttle::SignInLimit>,
    /// Purpose code → URI in the processing register, for the Logboek read API.
    register: Arc<std::collections::BTreeMap<String, String>>,
}

/// Starts the console on `settings.listen`, if set; returns the address it listens on.
pub async fn serve(
    settings: &ConsoleConfig,
    exchange: Arc<Exchange>,
    tls: &TlsFiles,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>, ConsoleError> {
    let Some(listen) = settings.listen else {
        return Ok(None);
    };
    let config = listener::server_config(tls)?;
    let bind = |source| ConsoleError::Bind {
        addr: listen,
        source,
    };
    let tcp = TcpListener::bind(listen).await.map_err(bind)?;
    let listener = listener::TlsListener::spawn(tcp, config, shutdown.clone()).map_err(bind)?;
    let addr = axum::serve::Listener::local_addr(&listener).map_err(bind)?;
    let console = Console {
        sessions: Arc::new(session::Sessions::new(
            exchange.clock().clone(),
            Duration::from_secs(settings.session_lifetime_secs),
            settings.max_sessions,
        )),
        exchange,
        sign_ins: Arc::new(throttle::SignInLimit::new(
            settings.sign_ins_per_minute_per_address,
        )),
        register: Arc::new(settings.processing_activities.clone()),
    };
    let app = pages::router(console);
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<throttle::PeerAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "console listener ended");
        }
    });
    tracing::info!(%addr, "privacy officers' console listening");
    Ok(Some(addr))
}

/// Checks the `[console]` settings against the policy in force: every purpose of the
/// processing register must be one of the policy's. Run at start-up before any socket opens
/// (the settings' own checks, such as `https://` URIs, are in [`ConsoleConfig::problems`]).
pub fn check(settings: &ConsoleConfig, policy: &Policy) -> Result<(), ConsoleError> {
    let problems: Vec<String> = settings
        .processing_activities
        .keys()
        .filter(|code| policy.purpose(code).is_none())
        .map(|code| {
            format!(
                "console.processing_activities: {code} is not a purpose of the policy; \
                 use the purpose codes of the policy file as keys"
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConsoleError::Settings(problems.join("; ")))
    }
}
