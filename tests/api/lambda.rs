//! The Lambda adapter, driven with API Gateway v2, Function URL, REST (v1, with a stage) and
//! ALB events through `lambda_http`'s own conversions and the core: login and callback with
//! cookies in (also split over several `Cookie` headers), several `Set-Cookie` out, form bodies
//! (base64 too), the session on `/api/me`, and malformed events answered 400 without a panic.

use std::sync::Arc;

use base64::Engine;
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    HttpApi,
    FunctionUrl,
    Rest,
    Alb,
}

const KINDS: [Kind; 4] = [Kind::HttpApi, Kind::FunctionUrl, Kind::Rest, Kind::Alb];

fn fixture(kind: Kind) -> Value {
    let text = match kind {
        Kind::HttpApi => include_str!("../fixtures/lambda/apigw-v2.json"),
        Kind::FunctionUrl => include_str!("../fixtures/lambda/function-url.json"),
        Kind::Rest => include_str!("../fixtures/lambda/apigw-v1-stage.json"),
        Kind::Alb => include_str!("../fixtures/lambda/alb.json"),
    };
    serde_json::from_str(text).unwrap()
}

/// A request as the browser sent it.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    cookies: Vec<String>,
    form: Option<(&'a str, bool)>,
}

/// The event `kind` would deliver for `req`.
fn event(kind: Kind, req: &Req) -> Value {
    let mut e = fixture(kind);
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(req.query.as_bytes()).into_owned().collect();
    let single: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let mut multi = serde_json::Map::new();
    for (k, v) in &pairs {
        // ALB passes query values as they were sent, still percent-encoded.
        let v = if kind == Kind::Alb { urlencode(v) } else { v.clone() };
        multi.entry(k.clone()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(json!(v));
    }
    let body = req.form.map(
        |(form, b64)| {
            if b64 {
                base64::engine::general_purpose::STANDARD.encode(form)
            } else {
                form.to_owned()
            }
        },
    );
    let b64 = req.form.is_some_and(|(_, b)| b);
    match kind {
        Kind::HttpApi | Kind::FunctionUrl => {
            e["rawPath"] = json!(req.path);
            e["rawQueryString"] = json!(req.query);
            e["queryStringParameters"] = Value::Object(single);
            e["requestContext"]["http"]["method"] = json!(req.method);
            e["requestContext"]["http"]["path"] = json!(req.path);
            e["cookies"] = json!(req.cookies);
            if let Some(body) = body {
                e["body"] = json!(body);
                e["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
            }
            e["isBase64Encoded"] = json!(b64);
        }
        Kind::Rest => {
            e["path"] = json!(req.path);
            e["requestContext"]["path"] = json!(format!("/prod{}", req.path));
            e["httpMethod"] = json!(req.method);
            e["requestContext"]["httpMethod"] = json!(req.method);
            e["queryStringParameters"] = Value::Object(single);
            e["multiValueQueryStringParameters"] = Value::Object(multi);
            let cookie = req.cookies.join("; ");
            e["headers"]["Cookie"] = json!(cookie);
            e["multiValueHeaders"]["Cookie"] = json!([cookie]);
            if let Some(body) = body {
                e["body"] = json!(body);
                e["multiValueHeaders"]["Content-Type"] = json!(["application/x-www-form-urlencoded"]);
                e["headers"]["Content-Type"] = json!("application/x-www-form-urlencoded");
            }
            e["isBase64Encoded"] = json!(b64);
        }
        Kind::Alb => {
            e["path"] = json!(req.path);
            e["httpMethod"] = json!(req.method);
            e["multiValueQueryStringParameters"] = Value::Object(multi);
            e["multiValueHeaders"]["cookie"] = json!([req.cookies.join("; ")]);
            if let Some(body) = body {
                e["body"] = json!(body);
                e["multiValueHeaders"]["content-type"] = json!(["application/x-www-form-urlencoded"]);
            }
            e["isBase64Encoded"] = json!(b64);
        }
    }
    e
}

/// What Lambda would return for `event`, as JSON, from the function the runtime calls.
async fn invoke(app: &Arc<entra_sso::App>, event: Value) -> Value {
    let event = RawValue::from_string(event.to_string()).unwrap();
    let response = entra_sso::adapters::lambda::respond(Arc::clone(app), LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(response).unwrap()
}

fn header(kind: Kind, r: &Value, name: &str) -> Option<String> {
    let v = match kind {
        Kind::Rest => r["multiValueHeaders"][name][0].as_str(),
        _ => r["headers"][name].as_str(),
    };
    v.map(str::to_owned)
}

/// Every `Set-Cookie` of a response, where `kind` carries them.
fn set_cookies(kind: Kind, r: &Value) -> Vec<String> {
    let list = match kind {
        Kind::HttpApi | Kind::FunctionUrl => &r["cookies"],
        Kind::Rest | Kind::Alb => &r["multiValueHeaders"]["set-cookie"],
    };
    list.as_array().map(|a| a.iter().map(|c| c.as_str().unwrap().to_owned()).collect()).unwrap_or_default()
}

/// Applies `Set-Cookie`s to a browser's cookie list.
fn absorb(jar: &mut Vec<String>, set: &[String]) {
    for c in set {
        let pair = c.split(';').next().unwrap();
        let name = pair.split('=').next().unwrap();
        jar.retain(|p| p.split('=').next() != Some(name));
        if !c.contains("Max-Age=0") {
            jar.push(pair.to_owned());
        }
    }
}

async fn sign_in_through(kind: Kind, form_post: bool) {
    let idp = spawn_idp().await;
    let extra: &[(&str, &str)] = if form_post { &[("SSO_RESPONSE_MODE", "form_post")] } else { &[] };
    let app = entra_sso::App::new(settings(&idp.authority, extra));
    let mut jar: Vec<String> = vec!["theme=dark".into()];

    // Three earlier flows in this browser: the new login must expire the oldest ones.
    for _ in 0..3 {
        let r = invoke(
            &app,
            event(
                kind,
                &Req { method: "GET", path: "/api/login", query: "return_to=%2Fold", cookies: jar.clone(), form: None },
            ),
        )
        .await;
        absorb(&mut jar, &set_cookies(kind, &r));
    }
    assert_eq!(jar.iter().filter(|c| c.starts_with("__Host-sso-flow-")).count(), 3, "{kind:?}");
    let login = Req {
        method: "GET",
        path: "/api/login",
        query: "return_to=%2Fdashboard%3Ftab%3D2",
        cookies: jar.clone(),
        form: None,
    };
    let r = invoke(&app, event(kind, &login)).await;
    assert_eq!(r["statusCode"], 302, "{kind:?}: {r}");
    let authorize = header(kind, &r, "location").unwrap();
    assert!(authorize.contains("/oauth2/v2.0/authorize?"), "{kind:?}");
    let set = set_cookies(kind, &r);
    assert_eq!(set.len(), 2, "{kind:?}: one expired flow cookie and the new one survive: {set:?}");
    assert!(set.iter().all(|c| c.contains("HttpOnly; Secure")));
    absorb(&mut jar, &set);
    assert_eq!(jar.iter().filter(|c| c.starts_with("__Host-sso-flow-")).count(), 3);

    let (endpoint, query) = authorize.split_once('?').unwrap();
    let idp_answer = client()
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{query}&user=bob"))
        .send()
        .await
        .unwrap();
    let r = if form_post {
        let html = idp_answer.text().await.unwrap();
        let form = form_post_body(&html);
        let req =
            Req { method: "POST", path: "/api/callback", query: "", cookies: jar.clone(), form: Some((&form, true)) };
        invoke(&app, event(kind, &req)).await
    } else {
        let cb = location(&idp_answer);
        let query = cb.split_once('?').unwrap().1.to_owned();
        invoke(
            &app,
            event(kind, &Req { method: "GET", path: "/api/callback", query: &query, cookies: jar.clone(), form: None }),
        )
        .await
    };
    assert_eq!(r["statusCode"], if form_post { 303 } else { 302 }, "{kind:?}: {r}");
    assert_eq!(header(kind, &r, "location").as_deref(), Some("/dashboard?tab=2"), "{kind:?}");
    let set = set_cookies(kind, &r);
    assert_eq!(set.len(), 2, "{kind:?}: session and flow deletion: {set:?}");
    assert!(set.iter().any(|c| c.starts_with("__Host-sso-session=") && !c.contains("Max-Age=0")));
    assert!(set.iter().any(|c| c.starts_with("__Host-sso-flow-") && c.contains("Max-Age=0")));
    absorb(&mut jar, &set);

    let r =
        invoke(&app, event(kind, &Req { method: "GET", path: "/api/me", query: "", cookies: jar.clone(), form: None }))
            .await;
    assert_eq!(r["statusCode"], 200, "{kind:?}: {r}");
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["name"], "Bob Example");
}

#[tokio::test]
async fn sign_in_through_every_event_kind() {
    for kind in KINDS {
        sign_in_through(kind, false).await;
    }
}

#[tokio::test]
async fn form_post_with_base64_bodies_through_every_event_kind() {
    for kind in KINDS {
        sign_in_through(kind, true).await;
    }
}

#[tokio::test]
async fn rest_api_stage_prefix_is_removed_and_errors_keep_their_codes() {
    let idp = spawn_idp().await;
    let app = entra_sso::App::new(settings(&idp.authority, &[]));
    let r = invoke(
        &app,
        event(Kind::Rest, &Req { method: "GET", path: "/api/health", query: "", cookies: vec![], form: None }),
    )
    .await;
    assert_eq!(r["statusCode"], 200);
    for kind in KINDS {
        let req =
            Req { method: "GET", path: "/api/callback", query: "code=a&state=x&state=y", cookies: vec![], form: None };
        let r = invoke(&app, event(kind, &req)).await;
        assert_eq!(r["statusCode"], 400, "{kind:?}");
        assert!(r["body"].as_str().unwrap().contains("state_malformed"), "{kind:?}: repeated state");
    }
}

/// Puts `cookies` in separate `Cookie` header lines, as a REST API or an ALB (multi-value
/// headers) delivers them when the browser sent several; a REST API's single-value `headers`
/// then holds only the last one.
fn split_cookie_headers(kind: Kind, e: &mut Value, cookies: &[&str]) {
    match kind {
        Kind::Rest => {
            e["multiValueHeaders"]["Cookie"] = json!(cookies);
            e["headers"]["Cookie"] = json!(cookies.last());
        }
        Kind::Alb => e["multiValueHeaders"]["cookie"] = json!(cookies),
        Kind::HttpApi | Kind::FunctionUrl => unreachable!("v2 events carry a cookies array"),
    }
}

#[tokio::test]
async fn cookies_in_several_cookie_headers_all_reach_the_core() {
    let idp = spawn_idp().await;
    let app = entra_sso::App::new(settings(&idp.authority, &[]));
    for kind in [Kind::Rest, Kind::Alb] {
        let login = Req { method: "GET", path: "/api/login", query: "return_to=%2Fhome", cookies: vec![], form: None };
        let r = invoke(&app, event(kind, &login)).await;
        assert_eq!(r["statusCode"], 302, "{kind:?}: {r}");
        let flow = set_cookies(kind, &r)[0].split(';').next().unwrap().to_owned();
        let authorize = header(kind, &r, "location").unwrap();
        let cb = idp_post(&authorize, "user=bob").await;
        let cb_query = cb.split_once('?').unwrap().1;

        // The flow cookie in the first of two Cookie headers.
        let callback = Req { method: "GET", path: "/api/callback", query: cb_query, cookies: vec![], form: None };
        let mut e = event(kind, &callback);
        split_cookie_headers(kind, &mut e, &[&flow, "theme=dark"]);
        let r = invoke(&app, e).await;
        assert_eq!(r["statusCode"], 302, "{kind:?}: the flow cookie in the first Cookie header is seen: {r}");
        let session = set_cookies(kind, &r)
            .into_iter()
            .find(|c| c.starts_with("__Host-sso-session="))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();

        let me = Req { method: "GET", path: "/api/me", query: "", cookies: vec![], form: None };
        let mut e = event(kind, &me);
        split_cookie_headers(kind, &mut e, &[&session, "theme=dark"]);
        let r = invoke(&app, e).await;
        assert_eq!(r["statusCode"], 200, "{kind:?}: the session in the first Cookie header is seen: {r}");
    }
}

/// Sets the `Host` header of an event where `kind` carries it.
fn set_host(kind: Kind, e: &mut Value, host: &str) {
    match kind {
        Kind::Rest => {
            e["headers"]["Host"] = json!(host);
            e["multiValueHeaders"]["Host"] = json!([host]);
        }
        Kind::HttpApi | Kind::FunctionUrl => e["headers"]["host"] = json!(host),
        Kind::Alb => e["multiValueHeaders"]["host"] = json!([host]),
    }
}

/// `lambda_http` unwraps the URL it builds from `Host` (and rejects the whole event when a header
/// value is invalid); the adapter must answer 400 first. `catch_unwind` shows no panic happened.
#[test]
fn a_malformed_host_is_a_bad_request_not_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = entra_sso::App::new(settings("http://127.0.0.1:9/t/v2.0", &[]));
    for kind in KINDS {
        for host in ["a b", "[::1", "bad host\u{7f}", "a%zz", "h:99999", "x/y", "user@h"] {
            let mut e =
                event(kind, &Req { method: "GET", path: "/api/health", query: "", cookies: vec![], form: None });
            set_host(kind, &mut e, host);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(invoke(&app, e))));
            let r = outcome.unwrap_or_else(|_| panic!("{kind:?}, Host {host:?}: the invocation panicked"));
            assert_eq!(r["statusCode"], 400, "{kind:?}, Host {host:?}: {r}");
            assert!(r["body"].as_str().unwrap().contains("<code>bad_request</code>"), "{kind:?}, Host {host:?}");
        }
    }
}

/// Finding 12 of the second review: behind a REST stage URL every link and redirect to this
/// service's routes needs the stage in front (`/prod/api/login`), as the event's public path has.
#[tokio::test]
async fn links_and_redirects_keep_the_rest_stage_prefix() {
    let idp = spawn_idp().await;
    let app = entra_sso::App::new(settings(&idp.authority, &[]));
    let get = |path: &'static str, query: &'static str| Req { method: "GET", path, query, cookies: vec![], form: None };

    let mut e = event(Kind::Rest, &get("/api/me", ""));
    e["headers"]["Accept"] = json!("application/json");
    let r = invoke(&app, e).await;
    assert_eq!(r["statusCode"], 401);
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["login_url"], "/prod/api/login", "signed out: {body}");

    let r = invoke(&app, event(Kind::Rest, &get("/api/callback", "code=a&state=x&state=y"))).await;
    assert!(r["body"].as_str().unwrap().contains("href=\"/prod/api/login\""), "try again: {}", r["body"]);

    let r = invoke(&app, event(Kind::Rest, &get("/api/logout", ""))).await;
    let page = r["body"].as_str().unwrap();
    assert!(page.contains("action=\"/prod/api/logout?return_to=%2Fprod%2F\""), "logout confirmation: {page}");

    // A login without return_to comes back to the stage's root, not the host's.
    let r = invoke(&app, event(Kind::Rest, &get("/api/login", ""))).await;
    assert_eq!(r["statusCode"], 302);
    let authorize = header(Kind::Rest, &r, "location").unwrap();
    let state = query_param(&authorize, "state").unwrap();
    let payload = state.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["rt"], "/prod/", "{claims}");

    // A Function URL has no stage: the same paths, no prefix.
    let mut e = event(Kind::FunctionUrl, &get("/api/me", ""));
    e["headers"]["accept"] = json!("application/json");
    let body: Value = serde_json::from_str(invoke(&app, e).await["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["login_url"], "/api/login");
}
