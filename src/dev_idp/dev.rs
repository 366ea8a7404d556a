//! `entra-sso dev`: the handler on `http://localhost:<port>` and the dev identity provider on
//! `http://127.0.0.1:<idp-port>`, with secrets generated for this run.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::Settings;
use crate::dev_idp::{DevClient, DevIdp, DEV_TENANT};
use crate::tokens::secret::{SecretString, SigningSecret};
use crate::App;

/// The dev client's id.
pub const DEV_CLIENT_ID: &str = "00000000-de00-4000-8000-0000000c1e47";

/// A running dev environment's addresses and generated secrets.
pub struct DevEnv {
    /// The app's base URL (`http://localhost:<port>`).
    pub app_url: String,
    /// The dev identity provider's authority.
    pub authority: String,
    /// The generated client secret.
    pub client_secret: SecretString,
    /// The generated `SSO_SECRET`.
    pub sso_secret: SecretString,
}

/// Starts the dev identity provider and the handler on the given listeners and serves both
/// until `shutdown` completes.
pub async fn run(
    app_listener: TcpListener,
    idp_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&DevEnv),
) -> Result<(), Box<dyn std::error::Error>> {
    let app_url = format!("http://localhost:{}", app_listener.local_addr()?.port());
    let idp_url = format!("http://127.0.0.1:{}", idp_listener.local_addr()?.port());
    let env = DevEnv {
        client_secret: SecretString::new(random(24)),
        sso_secret: SigningSecret::generate().encode(),
        authority: String::new(),
        app_url,
    };
    let client = DevClient {
        client_id: DEV_CLIENT_ID.to_owned(),
        client_secret: Some(env.client_secret.clone()),
        redirect_uri: format!("{}/api/callback", env.app_url),
    };
    let idp = Arc::new(DevIdp::new(&idp_url, DEV_TENANT, client)?);
    let env = DevEnv { authority: idp.authority().to_owned(), ..env };
    let vars: HashMap<&str, String> = HashMap::from([
        ("SSO_CLIENT_ID", DEV_CLIENT_ID.to_owned()),
        ("SSO_AUTHORITY", env.authority.clone()),
        ("SSO_CLIENT_SECRET", env.client_secret.expose().to_owned()),
        ("SSO_REDIRECT_URI", format!("{}/api/callback", env.app_url)),
        ("SSO_POST_LOGOUT_REDIRECT_URI", format!("{}/", env.app_url)),
        ("SSO_SECRET", env.sso_secret.expose().to_owned()),
    ]);
    // A few settings may come from the environment: the session lifetimes, to watch renewal
    // happen quickly, and the group and role rules, to try them against the dev users.
    let from_env = |k: &str| DEV_SETTINGS_FROM_ENV.contains(&k).then(|| std::env::var(k).ok()).flatten();
    let mut settings = Settings::from_lookup(|k| vars.get(k).cloned().or_else(|| from_env(k)))?;
    settings.dev_pages = true;
    let app = App::new(settings);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let idp_task = tokio::spawn(crate::adapters::server::run(idp_listener, idp, wait_for(stop_rx.clone())));
    let app_task = tokio::spawn(crate::adapters::server::run(app_listener, Arc::clone(&app), wait_for(stop_rx)));
    app.prefetch();
    on_ready(&env);
    shutdown.await;
    let _ = stop_tx.send(true);
    let _ = tokio::join!(idp_task, app_task);
    Ok(())
}

/// The settings `entra-sso dev` takes from the environment; the rest it sets itself.
const DEV_SETTINGS_FROM_ENV: &[&str] = &[
    "SSO_SESSION_TTL",
    "SSO_SESSION_MAX_AGE",
    "SSO_ALLOWED_GROUPS",
    "SSO_SESSION_GROUPS",
    "SSO_REQUIRED_ROLES",
    "SSO_EVENTS",
];

async fn wait_for(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

fn random(n: usize) -> String {
    use base64::Engine;
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the operating system's random generator is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
