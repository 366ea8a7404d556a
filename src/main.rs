//! The `entra-sso` command: `serve` (local server and Azure Functions custom handler), `proxy`,
//! `doctor`, `keygen`, `dev` (the whole flow against the embedded dev identity provider),
//! `dev-idp`, and the Lambda adapter when started by the Lambda runtime.

use std::net::SocketAddr;
use std::process::ExitCode;

use entra_sso::config::{ConfigError, ConfigErrors, Mount, Startup};
use entra_sso::proxy::settings::ProxySettings;
use entra_sso::telemetry::Streams;
use entra_sso::{adapters::server, App, Settings};
use tokio::net::TcpListener;

const USAGE: &str = "usage:
  entra-sso serve                              serve the sign-in functions (configuration from SSO_* variables;
                                               port FUNCTIONS_CUSTOMHANDLER_PORT, default 7071)
  entra-sso proxy [--listen 0.0.0.0:8080]      stand in front of the app at SSO_UPSTREAM on one host: sign-in at
                                               /.auth/login/aad (App Service Authentication's paths), every other
                                               request checked and forwarded with the identity headers
                                               (listen address: --listen, else 0.0.0.0:$PORT, else 0.0.0.0:8080)
  entra-sso keygen                             print a fresh random value for SSO_SECRET
  entra-sso doctor [--offline]                 check the configuration (and, unless --offline, the provider
                                               and the client credential); exit status 1 on any failure
  entra-sso dev [--port 7071] [--idp-port 7072]
                                               the whole flow against the embedded dev identity provider
  entra-sso dev-idp [--port 7072]              the dev identity provider alone (tenant SSO_TENANT_ID, client
                                               SSO_CLIENT_ID / SSO_CLIENT_SECRET / SSO_REDIRECT_URI; accepts
                                               assertions of SSO_CLIENT_CERTIFICATE's certificate, and of the
                                               issuer DEV_IDP_FEDERATED_ISSUER / _SUBJECT / _JWKS / _AUDIENCE)";

/// Why a command stopped. Printed on stderr after `entra-sso: `, each cause after `: `; the exit
/// status is 2.
#[derive(Debug, thiserror::Error)]
enum CliError {
    /// A command or a flag this binary does not take; the usage follows.
    #[error("{0}\n{USAGE}")]
    Usage(&'static str),
    /// A port flag without a port number after it.
    #[cfg(feature = "dev-idp")]
    #[error("{0} needs a port number")]
    PortFlag(&'static str),
    /// Faulty settings, every one of them; [`report`] prints a line for each.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigErrors),
    /// The dev identity provider's own settings (`SSO_CLIENT_CERTIFICATE`, `DEV_IDP_FEDERATED_*`),
    /// already naming the variable.
    #[cfg(feature = "dev-idp")]
    #[error("configuration error: {0}")]
    DevIdpSettings(entra_sso::dev_idp::TrustError),
    /// No listener on this address.
    #[error("cannot listen on {addr}")]
    Listen {
        /// Where.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The address a listener was bound to could not be read.
    #[error("cannot read the listening address")]
    LocalAddr(#[source] std::io::Error),
    /// `dev` or `dev-idp` refused to start (in the cloud) or could not.
    #[cfg(feature = "dev-idp")]
    #[error(transparent)]
    DevIdp(#[from] entra_sso::dev_idp::DevIdpError),
    /// `entra-sso dev` stopped on an error.
    #[cfg(feature = "dev-idp")]
    #[error(transparent)]
    Dev(Box<dyn std::error::Error>),
    /// The Lambda runtime stopped on an error.
    #[cfg(feature = "lambda")]
    #[error(transparent)]
    Lambda(lambda_http::Error),
}

/// The error on stderr: its message, then each cause after `: `; faulty settings a line each,
/// as `entra-sso: configuration error: <VARIABLE>: <problem>`.
fn report(error: &CliError) {
    use std::error::Error as _;
    if let CliError::Config(errors) = error {
        for e in errors {
            eprintln!("entra-sso: configuration error: {e}");
        }
        return;
    }
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        line.push_str(&format!(": {c}"));
        cause = c.source();
    }
    eprintln!("entra-sso: {line}");
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A command whose stdout is its answer keeps its log lines off it.
    let answers_on_stdout = matches!(args.first().map(String::as_str), Some("doctor" | "keygen"));
    let streams = if answers_on_stdout { Streams::Stderr } else { Streams::Split };
    entra_sso::telemetry::init_logging(streams, std::env::var("SSO_LOG_FORMAT").as_deref() == Ok("json"));
    entra_sso::install_crypto();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = match args.first().map(String::as_str) {
        // The Lambda runtime starts `bootstrap` without arguments.
        #[cfg(feature = "lambda")]
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => runtime.block_on(lambda()),
        Some("serve") => runtime.block_on(serve()),
        Some("proxy") => runtime.block_on(proxy(&args[1..])),
        Some("doctor") => return runtime.block_on(doctor(&args[1..])),
        #[cfg(feature = "dev-idp")]
        Some("dev") => runtime.block_on(dev(&args[1..])),
        #[cfg(feature = "dev-idp")]
        Some("dev-idp") => runtime.block_on(dev_idp(&args[1..])),
        Some("keygen") => {
            println!("{}", entra_sso::tokens::secret::SigningSecret::generate().encode().expose());
            Ok(())
        }
        Some("--version") | Some("-V") => {
            println!("entra-sso {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("help") | Some("--help") | Some("-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(CliError::Usage("unknown command")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::from(2)
        }
    }
}

/// `entra-sso doctor [--offline]`: one line per check on stdout; 1 when any failed, 2 on bad usage.
async fn doctor(args: &[String]) -> ExitCode {
    let offline = match args {
        [] => false,
        [flag] if flag == "--offline" => true,
        _ => {
            eprintln!("entra-sso: doctor takes only --offline\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let report = entra_sso::doctor::run(|name| std::env::var(name).ok(), offline).await;
    print!("{report}");
    match report.failures() {
        0 => ExitCode::SUCCESS,
        n => {
            eprintln!("entra-sso doctor: {n} check{} failed", if n == 1 { "" } else { "s" });
            ExitCode::FAILURE
        }
    }
}

/// Routes at `mount` in this process, which runs where its environment's cloud markers say.
fn here(mount: Mount) -> Startup {
    Startup::new(mount, |name| std::env::var_os(name).is_some())
}

/// The settings from the process environment for `startup`, each of their warnings logged.
fn settings(startup: Startup) -> Result<Settings, ConfigErrors> {
    let settings = Settings::from_env(startup)?;
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    Ok(settings)
}

async fn serve() -> Result<(), CliError> {
    let port = match std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT") {
        Ok(p) => p.parse::<u16>().map_err(|_| {
            ConfigErrors::from(ConfigError {
                variable: "FUNCTIONS_CUSTOMHANDLER_PORT",
                problem: "not a port number".into(),
            })
        }),
        Err(_) => Ok(7071),
    };
    let (settings, port) = ConfigErrors::join(settings(here(Mount::Api)), port)?;
    let listener = bind(port).await?;
    tracing::info!(addr = %listener.local_addr().map_err(CliError::LocalAddr)?, authority = settings.authority.as_str(), "serving");
    let app = App::new(settings);
    app.prefetch();
    server::run(listener, app, server::shutdown_signal()).await;
    Ok(())
}

/// `entra-sso proxy [--listen addr:port]`.
async fn proxy(args: &[String]) -> Result<(), CliError> {
    let listen = match args {
        [] => None,
        [flag, addr] if flag == "--listen" => Some(addr.as_str()),
        _ => return Err(CliError::Usage("proxy takes only --listen <address:port>")),
    };
    let settings = settings(here(Mount::EasyAuth));
    let policy = settings.as_ref().ok().map(|s| &s.policy);
    let proxy_settings = ProxySettings::from_lookup(|k| std::env::var(k).ok(), listen, policy);
    let (settings, proxy_settings) = ConfigErrors::join(settings, proxy_settings)?;
    let addr = proxy_settings.listen;
    let listener = TcpListener::bind(addr).await.map_err(|source| CliError::Listen { addr, source })?;
    tracing::info!(%addr, upstream = %proxy_settings.upstream, authority = settings.authority.as_str(), "proxying");
    let metrics = match proxy_settings.metrics_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| CliError::Listen { addr, source })?),
        None => None,
    };
    let proxy = entra_sso::proxy::Proxy::new(settings, proxy_settings);
    proxy.app().prefetch();
    if let Some(listener) = metrics {
        tracing::info!(addr = %listener.local_addr().map_err(CliError::LocalAddr)?, "serving /metrics");
        tokio::spawn(server::run(listener, proxy.metrics_endpoint(), server::shutdown_signal()));
    }
    entra_sso::proxy::run(listener, proxy, server::shutdown_signal()).await;
    Ok(())
}

/// The Lambda adapter: routes under `/api`, and no look at the cloud markers (see
/// [`Startup::cloud`]).
#[cfg(feature = "lambda")]
async fn lambda() -> Result<(), CliError> {
    let app = App::new(settings(Startup::default())?);
    app.prefetch();
    entra_sso::adapters::lambda::run(app).await.map_err(CliError::Lambda)
}

async fn bind(port: u16) -> Result<TcpListener, CliError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr).await.map_err(|source| CliError::Listen { addr, source })
}

#[cfg(feature = "dev-idp")]
fn port_flag(args: &[String], flag: &'static str, default: u16) -> Result<u16, CliError> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).ok_or(CliError::PortFlag(flag)),
    }
}

#[cfg(feature = "dev-idp")]
async fn dev(args: &[String]) -> Result<(), CliError> {
    entra_sso::dev_idp::refuse_in_cloud()?;
    let app_listener = bind(port_flag(args, "--port", 7071)?).await?;
    let idp_listener = bind(port_flag(args, "--idp-port", 7072)?).await?;
    entra_sso::dev_idp::dev::run(app_listener, idp_listener, server::shutdown_signal(), |env| {
        println!(
            "\nentra-sso dev: FOR DEVELOPMENT ONLY (embedded dev identity provider, not Microsoft)\n\n  \
open            {}/\n  dev IdP         {}\n  client id       {}\n  client secret   {}   (generated for this run)\n  \
SSO_SECRET      {}   (generated for this run)\n  users           alice (member), bob (app role Admin), carol (in 251 groups: overage)\n\nCtrl-C stops.\n",
            env.app_url,
            env.authority,
            entra_sso::dev_idp::dev::DEV_CLIENT_ID,
            env.client_secret.expose(),
            env.sso_secret.expose(),
        );
    })
    .await
    .map_err(CliError::Dev)
}

#[cfg(feature = "dev-idp")]
async fn dev_idp(args: &[String]) -> Result<(), CliError> {
    use entra_sso::dev_idp::{DevClient, DevIdp, DEV_TENANT};
    use entra_sso::tokens::secret::SecretString;
    entra_sso::dev_idp::refuse_in_cloud()?;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let required = |variable: &'static str| {
        var(variable).ok_or_else(|| ConfigErrors::from(ConfigError { variable, problem: "required".into() }))
    };
    let (client_id, redirect_uri) = ConfigErrors::join(required("SSO_CLIENT_ID"), required("SSO_REDIRECT_URI"))?;
    let client = DevClient { client_id, client_secret: var("SSO_CLIENT_SECRET").map(SecretString::new), redirect_uri };
    let tenant = var("SSO_TENANT_ID").unwrap_or_else(|| DEV_TENANT.to_owned());
    let listener = bind(port_flag(args, "--port", 7072)?).await?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr().map_err(CliError::LocalAddr)?.port());
    let trust = entra_sso::dev_idp::AssertionTrust::from_env(var).map_err(CliError::DevIdpSettings)?;
    let idp = std::sync::Arc::new(DevIdp::new(&base, &tenant, client)?.with_assertion_trust(trust));
    println!("entra-sso dev-idp: FOR DEVELOPMENT ONLY\nauthority {}", idp.authority());
    server::run(listener, idp, server::shutdown_signal()).await;
    Ok(())
}
