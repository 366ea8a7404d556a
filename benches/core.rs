//! Microbenchmarks of the hot paths: state and session tokens, the login handler, ID-token and
//! access-token verification (RS256, 2048-bit, cached key), and the whole callback handler
//! measured in CPU time of this process while the dev identity provider runs in another process.

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use entra_sso::app::Handler;
use entra_sso::idp::id_token::IdTokenVerifier;
use entra_sso::idp::provider::VerifyKey;
use entra_sso::tokens::jws::{Deployment, Purpose, TokenKeys};
use entra_sso::tokens::secret::SigningSecret;
use entra_sso::tokens::session::{SessionClaims, Sessions};
use entra_sso::tokens::session_keys::SessionKeys;
use entra_sso::tokens::state::{self, StateClaims};
use entra_sso::{App, Settings};

const CLIENT_ID: &str = "6cb04018-a3f5-46a7-b995-940c78f5aef3";
const REDIRECT_URI: &str = "https://app.example.test/api/callback";
const SECRET: &str = "6lnj9p6JSeYLGcmsFrzbHcRIT6xu9ePAUrMqFaQ184A";
const AUTHORITY: &str = "https://login.microsoftonline.com/t/v2.0";
const ISSUER: &str = "https://app.example.test/api";

fn settings(authority: &str) -> Settings {
    settings_with(authority, &[])
}

/// The same with `extra` variables (a group rule, say).
fn settings_with(authority: &str, extra: &[(&str, String)]) -> Settings {
    let mut vars = vec![
        ("SSO_CLIENT_ID", CLIENT_ID.to_owned()),
        ("SSO_AUTHORITY", authority.to_owned()),
        ("SSO_CLIENT_SECRET", "bench-client-secret".to_owned()),
        ("SSO_REDIRECT_URI", REDIRECT_URI.to_owned()),
        ("SSO_SECRET", SECRET.to_owned()),
    ];
    vars.extend(extra.iter().cloned());
    Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

fn keys(purpose: Purpose) -> TokenKeys {
    let deployment = Deployment { client_id: CLIENT_ID, authority: AUTHORITY, redirect_uri: REDIRECT_URI };
    TokenKeys::derive(&SigningSecret::parse(SECRET).unwrap().into(), purpose, deployment)
}

fn tokens(c: &mut Criterion) {
    let state_keys = keys(Purpose::State);
    let claims = StateClaims {
        jti: "gTrAvEbIGMeZ9363Htixdg".into(),
        iat: entra_sso::support::time::now(),
        exp: entra_sso::support::time::now() + 600,
        aud: REDIRECT_URI.into(),
        rt: "/dashboard?tab=2".into(),
        vh: "wG7skuaUP9DJuKYo1zIOHNVy3KP4mVDFQcfVwvyx8ds".into(),
        pn: false,
        at: None,
    };
    c.bench_function("state_mint", |b| b.iter(|| state::mint(&state_keys, black_box(&claims))));
    let token = state::mint(&state_keys, &claims);
    c.bench_function("state_verify", |b| {
        b.iter(|| state::verify(&state_keys, black_box(&token), REDIRECT_URI, claims.iat).unwrap())
    });

    let deployment = Deployment { client_id: CLIENT_ID, authority: AUTHORITY, redirect_uri: REDIRECT_URI };
    // Once per key at start-up: part of the cold start.
    c.bench_function("session_keys_derive", |b| {
        b.iter(|| SessionKeys::derive(&SigningSecret::parse(SECRET).unwrap().into(), black_box(deployment)))
    });
    let session_keys = SessionKeys::derive(&SigningSecret::parse(SECRET).unwrap().into(), deployment);
    let sessions = Sessions::new(session_keys, ISSUER.into(), CLIENT_ID.into(), 0);
    let session = SessionClaims {
        iss: ISSUER.into(),
        aud: CLIENT_ID.into(),
        idp: "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0".into(),
        sub: "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ".into(),
        oid: Some("00000000-0000-0000-66f3-3332eca7ea81".into()),
        tid: Some("b9419818-09af-49c2-b0c3-653adc1f376e".into()),
        name: Some("Abe Lincoln".into()),
        preferred_username: Some("AbeLi@microsoft.com".into()),
        email: Some("AbeLi@microsoft.com".into()),
        roles: vec!["Reader".into()],
        groups: vec![],
        groups_overage: false,
        login_hint: None,
        sid: None,
        iat: entra_sso::support::time::now(),
        exp: entra_sso::support::time::now() + 3600,
        auth_time: Some(entra_sso::support::time::now()),
    };
    c.bench_function("session_mint", |b| {
        b.iter_batched(
            || session.clone(),
            |mut s| sessions.mint(&mut s, &entra_sso::idp::policy::Policy::default()).unwrap(),
            BatchSize::SmallInput,
        )
    });
    // ES256 signatures are randomised, so every mint is a token the cache has not seen.
    c.bench_function("session_verify_first_seen", |b| {
        b.iter_batched(
            || sessions.mint(&mut session.clone(), &entra_sso::idp::policy::Policy::default()).unwrap(),
            |token| sessions.verify(black_box(&token), session.iat).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let token = sessions.mint(&mut session.clone(), &entra_sso::idp::policy::Policy::default()).unwrap();
    c.bench_function("session_verify_cached", |b| b.iter(|| sessions.verify(black_box(&token), session.iat).unwrap()));
}

/// `claims` signed RS256 (`kid` `k`) with a 2048-bit key made once, and that key as the provider
/// publishes it, bound to `key_issuer`.
fn rs256_signed(claims: &serde_json::Value, key_issuer: Option<&str>) -> (String, VerifyKey) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    let private = KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap());
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (n, e) = (
        base64::Engine::encode(&engine, private.n().to_bytes_be()),
        base64::Engine::encode(&engine, private.e().to_bytes_be()),
    );
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("k".into());
    let der = private.to_pkcs1_der().unwrap();
    let token =
        jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes())).unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap();
    (token, VerifyKey { key, issuer: key_issuer.map(str::to_owned) })
}

fn id_token(c: &mut Criterion) {
    entra_sso::install_crypto();
    let issuer = "https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0";
    let now = entra_sso::support::time::now();
    let claims = serde_json::json!({
        "ver": "2.0", "iss": issuer, "aud": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 3600,
        "tid": "b9419818-09af-49c2-b0c3-653adc1f376e", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ", "name": "Abe Lincoln",
        "preferred_username": "AbeLi@microsoft.com", "nonce": "the-nonce", "roles": ["Reader"],
    });
    let (token, key) = rs256_signed(&claims, None);
    let verifier = IdTokenVerifier::new(CLIENT_ID);
    c.bench_function("id_token_verify_rs256", |b| {
        b.iter(|| verifier.verify(black_box(&token), &key, issuer, "the-nonce", now).unwrap())
    });
    // The same work after the thread slept as long as a callback waits for the dev IdP's token
    // answer (~1.5 ms): what an idle core's caches and clock do to it (see BENCHMARKS.md).
    let mut group = c.benchmark_group("idle");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    group.bench_function("id_token_verify_rs256_after_1500us_sleep", |b| {
        b.iter_custom(|iters| {
            let mut cpu = Duration::ZERO;
            for _ in 0..iters {
                std::thread::sleep(Duration::from_micros(1500));
                let start = thread_cpu();
                black_box(verifier.verify(black_box(&token), &key, issuer, "the-nonce", now).unwrap());
                cpu += thread_cpu() - start;
            }
            cpu
        })
    });
    group.finish();
}

/// Access-token verification (RS256, 2048-bit, cached key): a token seen for the first time
/// (a fresh verifier each time, so nothing is remembered) and one seen before.
fn bearer(c: &mut Criterion) {
    use entra_sso::idp::access_token::{AccessTokenConfig, AccessTokenVerifier};
    entra_sso::install_crypto();
    let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
    let tid = "b9419818-09af-49c2-b0c3-653adc1f376e";
    let now = entra_sso::support::time::now();
    let claims = serde_json::json!({
        "aud": CLIENT_ID, "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "iat": now, "nbf": now,
        "exp": now + 3600, "aio": "AWQAm/8TAAAA", "azp": "11111111-5555-4555-8555-555555555555", "azpacr": "0",
        "name": "Abe Lincoln", "oid": "00000000-0000-0000-66f3-3332eca7ea81", "preferred_username": "AbeLi@microsoft.com",
        "rh": "0.AXoAmBhBua8JwkmwwvBa3D93bg", "roles": ["Reader"], "scp": "access_as_user", "sid": "0015d4a7-5b2c",
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ", "tid": tid, "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0",
    });
    let (token, key) = rs256_signed(&claims, Some(template));
    let audiences = [CLIENT_ID.to_owned(), format!("api://{CLIENT_ID}")];
    let config = AccessTokenConfig {
        audiences: &audiences,
        clients: None,
        issuer: ISSUER,
        session_audience: CLIENT_ID,
        kept_groups: &Default::default(),
    };
    c.bench_function("bearer_verify_first_seen", |b| {
        b.iter_batched(
            || AccessTokenVerifier::new(config.clone()),
            |verifier| verifier.verify_with_key(black_box(&token), &key, template, now).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let verifier = AccessTokenVerifier::new(config.clone());
    verifier.verify_with_key(&token, &key, template, now).unwrap();
    c.bench_function("bearer_verify_cached", |b| {
        b.iter(|| verifier.verify_with_key(black_box(&token), &key, template, now).unwrap())
    });
}

/// CPU time of the calling thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn login_request() -> http::Request<Bytes> {
    http::Request::builder()
        .uri("/api/login?return_to=%2Fdashboard%3Ftab%3D2")
        .header("sec-fetch-mode", "navigate")
        .header("cookie", "theme=dark")
        .body(Bytes::new())
        .unwrap()
}

fn login_parts(c: &mut Criterion) {
    c.bench_function("return_to_validate", |b| {
        b.iter(|| entra_sso::web::return_to::validate(black_box("/dashboard?tab=2"), &[]).unwrap())
    });
    c.bench_function("flow_new_challenge_nonce", |b| {
        b.iter(|| {
            let f = entra_sso::tokens::flow::Flow::new();
            (entra_sso::tokens::flow::challenge(f.verifier()), entra_sso::tokens::flow::nonce(f.verifier()))
        })
    });
}

fn login(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // An Entra authority: the authorize URL is computed, so this makes no network call.
    let app = App::new(settings("https://login.microsoftonline.com/b9419818-09af-49c2-b0c3-653adc1f376e/v2.0"));
    c.bench_function("login_handler", |b| {
        b.to_async(&rt).iter(|| async {
            let r = app.handle(login_request()).await;
            assert_eq!(r.status(), 302);
            r
        })
    });
}

/// The dev identity provider in its own process, so its work is not counted.
struct DevIdpProcess {
    child: Child,
    authority: String,
}

impl Drop for DevIdpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_dev_idp() -> DevIdpProcess {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_entra-sso"));
    // dev-idp refuses to start under a cloud marker the shell may have (KUBERNETES_SERVICE_HOST, …).
    for marker in entra_sso::config::CLOUD_MARKERS {
        command.env_remove(marker.variable);
    }
    let mut child = command
        .args(["dev-idp", "--port", &port.to_string()])
        .env("SSO_CLIENT_ID", CLIENT_ID)
        .env("SSO_CLIENT_SECRET", "bench-client-secret")
        .env("SSO_REDIRECT_URI", REDIRECT_URI)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let authority = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("authority ").map(str::to_owned))
        .expect("dev-idp prints its authority");
    DevIdpProcess { child, authority }
}

/// CPU time used by this process (all threads) so far.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A started flow and its code from the IdP: everything one callback needs.
async fn prepared_callback(app: &App, http: &reqwest::Client) -> http::Request<Bytes> {
    prepared_callback_of(app, http, "alice").await
}

/// The same for the dev user `user`.
async fn prepared_callback_of(app: &App, http: &reqwest::Client, user: &str) -> http::Request<Bytes> {
    let r = app.handle(login_request()).await;
    let authorize = r.headers()["location"].to_str().unwrap().to_owned();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let (endpoint, query) = authorize.split_once('?').unwrap();
    let answer = http
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&user={user}"))
        .send()
        .await
        .unwrap();
    let callback = answer.headers()["location"].to_str().unwrap().to_owned();
    let path = callback.strip_prefix("https://app.example.test").unwrap().to_owned();
    http::Request::builder().uri(path).header("cookie", cookie).body(Bytes::new()).unwrap()
}

fn callback(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let idp = spawn_dev_idp();
    let app: Arc<App> = App::new(settings(&idp.authority));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // Warm: metadata, keys and the connection pool.
    rt.block_on(async {
        let req = prepared_callback(&app, &http).await;
        assert_eq!(app.handle(req).await.status(), 302);
    });
    let mut group = c.benchmark_group("callback");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    group.bench_function("callback_handler_cpu_idp_excluded", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut requests = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    requests.push(prepared_callback(&app, &http).await);
                }
                let start = process_cpu();
                for req in requests {
                    let r = app.handle(req).await;
                    debug_assert_eq!(r.status(), 302);
                }
                process_cpu() - start
            })
        })
    });
    group.finish();
}

/// Wall-clock time of one callback, IdP round trips included: a user whose token lists the
/// groups (alice, no group rule) next to one with groups overage (carol, 251 groups) under a
/// rule naming 25 of hers, so the callback also asks the dev IdP's emulated Graph
/// (`checkMemberGroups` in two concurrent calls, the app-only token cached).
fn callback_overage(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let idp = spawn_dev_idp();
    let groups: Vec<String> = (0..25).map(entra_sso::dev_idp::users::many_group).collect();
    let plain: Arc<App> = App::new(settings(&idp.authority));
    let ruled: Arc<App> = App::new(settings_with(&idp.authority, &[("SSO_ALLOWED_GROUPS", groups.join(","))]));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    rt.block_on(async {
        for (app, user) in [(&plain, "alice"), (&ruled, "carol")] {
            let req = prepared_callback_of(app, &http, user).await;
            assert_eq!(app.handle(req).await.status(), 302, "{user} signs in");
        }
    });
    let mut group = c.benchmark_group("callback_wall");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    for (name, app, user) in
        [("callback_wall_plain", &plain, "alice"), ("callback_wall_overage_graph", &ruled, "carol")]
    {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut requests = Vec::with_capacity(iters as usize);
                    for _ in 0..iters {
                        requests.push(prepared_callback_of(app, &http, user).await);
                    }
                    let start = std::time::Instant::now();
                    for req in requests {
                        let r = app.handle(req).await;
                        debug_assert_eq!(r.status(), 302);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tokens, id_token, bearer, login_parts, login, callback, callback_overage);
criterion_main!(benches);
