//! The AWS Lambda adapter: the same core behind `lambda_http`, for API Gateway HTTP APIs (v2),
//! Function URLs, REST APIs (v1, stage prefixes removed) and Application Load Balancers.
//!
//! `lambda_http` decodes base64 bodies, joins a v2 event's `cookies` array into a `Cookie`
//! header, and on the way out puts each `Set-Cookie` into the v2 `cookies` array or into
//! `multiValueHeaders` (v1, ALB). The binary enters this mode when the Lambda runtime starts it
//! (`AWS_LAMBDA_RUNTIME_API` set, no arguments).
//!
//! Events are read here rather than by `lambda_http::run`, to repair and check them before
//! `lambda_http` turns them into requests: it keeps only the last of several `Cookie` headers of
//! a REST event, and it panics on a `Host` (or `X-Forwarded-Proto`, path, query or base64 body)
//! it cannot build a URL from, and refuses the whole event when a header value is invalid. Such
//! events are answered `400 bad_request` instead.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::header::{COOKIE, HOST};
use http::{HeaderMap, HeaderValue};
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, Body, RequestExt, Service};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::app::Handler;
use crate::web::errors::{ErrorCode, Failure};
use crate::web::url::PathPrefix;
use crate::App;

/// Converts a Lambda request to the core's request. A stage removed from the path, or any other
/// prefix the public path carries in front of the route (a custom domain's base path), is kept
/// as a [`PathPrefix`] so that links and redirects to this service's routes work behind it.
pub fn to_core(event: lambda_http::Request) -> http::Request<Bytes> {
    let stage = stage(&event);
    let public = public_path(&event);
    let (mut parts, body) = event.into_parts();
    if let Some(stage) = stage {
        parts.uri = strip_stage(&parts.uri, &stage);
    }
    if let Some(prefix) = public.and_then(|public| PathPrefix::between(&public, parts.uri.path())) {
        parts.extensions.insert(prefix);
    }
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    http::Request::from_parts(parts, body)
}

/// Converts the core's response for `lambda_http`: text bodies as text, others as binary.
pub fn from_core(response: http::Response<Bytes>) -> http::Response<Body> {
    response.map(|b| match String::from_utf8(b.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    })
}

/// The path as the client requested it, before API Gateway mapped it to a route: a REST event's
/// `requestContext.path`, an HTTP API event's `requestContext.http.path`.
fn public_path(event: &lambda_http::Request) -> Option<String> {
    match event.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.path.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.http.path.clone(),
        _ => None,
    }
}

/// The API Gateway stage a path is prefixed with, unless it is `$default`.
fn stage(event: &lambda_http::Request) -> Option<String> {
    let stage = match event.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.stage.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.stage.clone(),
        _ => None,
    }?;
    (stage != "$default" && !stage.is_empty()).then_some(stage)
}

fn strip_stage(uri: &http::Uri, stage: &str) -> http::Uri {
    let prefix = format!("/{stage}");
    let Some(rest) = uri.path().strip_prefix(&prefix).filter(|r| r.starts_with('/')) else {
        return uri.clone();
    };
    let pq = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    pq.parse().unwrap_or_else(|_| uri.clone())
}

/// Handles one Lambda request with `app`.
pub async fn handle(app: Arc<App>, event: lambda_http::Request) -> Result<http::Response<Body>, lambda_http::Error> {
    Ok(from_core(app.handle(to_core(event)).await))
}

/// Answers one Lambda event, given as its JSON text: repairs and checks it, has `lambda_http`
/// convert it, and answers with the response shape its origin expects (what the runtime
/// serializes). An event that is not an HTTP event of a supported kind is an error.
pub async fn respond(app: Arc<App>, event: LambdaEvent<Box<RawValue>>) -> Result<impl Serialize, lambda_http::Error> {
    let LambdaEvent { payload, context } = event;
    let (request, refusal) = match prepare(payload.get())? {
        Prepared::Ready(request) => (request, None),
        Prepared::Refused(blank, reason) => (blank, Some(reason)),
    };
    // `Adapter` is the conversion `lambda_http::run` itself uses; `LambdaResponse`, the shape of
    // each origin's answer, is public only through it.
    let mut adapter = Adapter::from(lambda_http::service_fn(move |req: lambda_http::Request| {
        let app = Arc::clone(&app);
        async move {
            match refusal {
                Some(reason) => Ok(from_core(bad_request(reason))),
                None => handle(app, req).await,
            }
        }
    }));
    std::future::poll_fn(|cx| adapter.poll_ready(cx)).await?;
    adapter.call(LambdaEvent::new(request, context)).await
}

/// Serves `app` on the Lambda runtime until it stops the process.
pub async fn run(app: Arc<App>) -> Result<(), lambda_http::Error> {
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event| respond(Arc::clone(&app), event))).await
}

/// An event ready for `lambda_http`, or one to answer `400`: then an empty event of the same
/// kind (which `lambda_http` converts safely) and the reason for the log.
enum Prepared {
    Ready(LambdaRequest),
    Refused(LambdaRequest, &'static str),
}

fn prepare(event: &str) -> Result<Prepared, serde_json::Error> {
    let mut request = match serde_json::from_str::<LambdaRequest>(event) {
        Ok(request) => request,
        Err(error) => {
            // A header that `http` cannot hold makes the whole event unreadable; without it the
            // event still says what kind it is, which the 400 needs.
            let mut value: serde_json::Value = serde_json::from_str(event)?;
            if !drop_invalid_headers(&mut value) {
                return Err(error);
            }
            let request = serde_json::from_value::<LambdaRequest>(value).map_err(|_| error)?;
            return Ok(Prepared::Refused(blank(request), "a header name or value is invalid"));
        }
    };
    join_cookie_headers(&mut request);
    Ok(match check(&request) {
        Ok(()) => Prepared::Ready(request),
        Err(reason) => Prepared::Refused(blank(request), reason),
    })
}

/// Removes the entries of `headers` and `multiValueHeaders` that `http` cannot represent;
/// returns whether there were any.
fn drop_invalid_headers(event: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    let valid = |name: &str, value: &Value| {
        let value_ok = |v: &Value| v.as_str().is_some_and(|s| HeaderValue::from_str(s).is_ok());
        http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && match value {
                Value::Array(values) => values.iter().all(value_ok),
                other => value_ok(other),
            }
    };
    let mut dropped = false;
    for field in ["headers", "multiValueHeaders"] {
        if let Some(map) = event.get_mut(field).and_then(Value::as_object_mut) {
            let before = map.len();
            map.retain(|name, value| valid(name, value));
            dropped |= map.len() != before;
        }
    }
    dropped
}

/// An event of `request`'s kind with nothing in it.
fn blank(request: LambdaRequest) -> LambdaRequest {
    match request {
        LambdaRequest::ApiGatewayV1(_) => LambdaRequest::ApiGatewayV1(Default::default()),
        LambdaRequest::ApiGatewayV2(_) => LambdaRequest::ApiGatewayV2(Default::default()),
        LambdaRequest::Alb(_) => LambdaRequest::Alb(Default::default()),
        other => other,
    }
}

/// Joins several `Cookie` headers of a REST event into one, as HTTP/2 joins cookie fields:
/// `lambda_http` extends `multiValueHeaders` with `headers`, which replaces all of a name's values
/// with the single one API Gateway puts there, the last. ALB events get the same; in multi-value
/// mode they have no `headers`, so they kept every `Cookie` header anyway.
fn join_cookie_headers(request: &mut LambdaRequest) {
    let (headers, multi) = match request {
        LambdaRequest::ApiGatewayV1(e) => (&mut e.headers, &mut e.multi_value_headers),
        LambdaRequest::Alb(e) => (&mut e.headers, &mut e.multi_value_headers),
        _ => return,
    };
    let mut values = multi.get_all(COOKIE).iter();
    let Some(first) = values.next() else { return };
    let rest: Vec<&HeaderValue> = values.collect();
    if rest.is_empty() {
        return;
    }
    let mut joined = first.as_bytes().to_vec();
    for value in rest {
        joined.extend_from_slice(b"; ");
        joined.extend_from_slice(value.as_bytes());
    }
    // Valid values joined with "; " are valid.
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        multi.insert(COOKIE, value.clone());
        if headers.contains_key(COOKIE) {
            headers.insert(COOKIE, value);
        }
    }
}

/// Checks what `lambda_http` builds the request URL from, with the parsers it uses (it unwraps
/// their results): the `Host` header, `X-Forwarded-Proto`, the path with its stage, the v2 raw
/// query, and a base64 body.
fn check(request: &LambdaRequest) -> Result<(), &'static str> {
    let (headers, multi, fallback_host, path, query, body) = match request {
        LambdaRequest::ApiGatewayV1(e) => (
            &e.headers,
            Some(&e.multi_value_headers),
            e.request_context.domain_name.as_deref(),
            path_with_stage(e.request_context.stage.as_deref(), e.path.as_deref().unwrap_or_default()),
            form_query(&e.multi_value_query_string_parameters, &e.query_string_parameters),
            (e.is_base64_encoded, e.body.as_deref()),
        ),
        LambdaRequest::ApiGatewayV2(e) => (
            &e.headers,
            None,
            e.request_context.domain_name.as_deref(),
            path_with_stage(e.request_context.stage.as_deref(), e.raw_path.as_deref().unwrap_or_default()),
            e.raw_query_string.clone().unwrap_or_default(),
            (e.is_base64_encoded, e.body.as_deref()),
        ),
        // lambda_http decodes an ALB query and encodes it again: the same alphabet as this.
        LambdaRequest::Alb(e) => (
            &e.headers,
            Some(&e.multi_value_headers),
            None,
            e.path.clone().unwrap_or_default(),
            form_query(&e.multi_value_query_string_parameters, &e.query_string_parameters),
            (e.is_base64_encoded, e.body.as_deref()),
        ),
        _ => return Ok(()),
    };
    check_hosts(headers, multi)?;
    let host = headers.get(HOST).and_then(|v| v.to_str().ok()).or(fallback_host);
    let mut uri = match host {
        Some(host) => {
            let scheme = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("https");
            url::Url::parse(&format!("{scheme}://{host}{path}"))
                .map_err(|_| "the request URL is malformed")?
                .to_string()
        }
        None => url::Url::parse(&format!("http://localhost{path}"))
            .map_err(|_| "the request path is malformed")?
            .path()
            .to_owned(),
    };
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query);
    }
    http::Uri::try_from(uri).map_err(|_| "the request target is malformed")?;
    if let (true, Some(body)) = body {
        base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| "the body is not valid base64")?;
    }
    Ok(())
}

/// Every `Host` value must be a plain `host[:port]`, and there may be only one (RFC 9112 §3.2).
fn check_hosts(headers: &HeaderMap, multi: Option<&HeaderMap>) -> Result<(), &'static str> {
    let many = multi.map_or(0, |m| m.get_all(HOST).iter().count());
    if many > 1 {
        return Err("several Host headers");
    }
    let values = headers.get_all(HOST).iter().chain(multi.into_iter().flat_map(|m| m.get_all(HOST).iter()));
    for value in values {
        let host = value.to_str().map_err(|_| "the Host header is malformed")?;
        let plain = host.parse::<http::uri::Authority>().is_ok()
            && !host.contains('@')
            && url::Url::parse(&format!("https://{host}/")).is_ok_and(|u| u.path() == "/" && u.query().is_none());
        if !plain {
            return Err("the Host header is malformed");
        }
    }
    Ok(())
}

/// The path `lambda_http` puts a stage in front of (its `apigw_path_with_stage`).
fn path_with_stage(stage: Option<&str>, path: &str) -> String {
    match stage {
        _ if std::env::var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_ok() => path.to_owned(),
        None | Some("$default") => path.to_owned(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.to_owned(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

/// The query `lambda_http` appends for a REST or ALB event: the multi-value parameters if any.
fn form_query(
    multi: &lambda_http::aws_lambda_events::query_map::QueryMap,
    single: &lambda_http::aws_lambda_events::query_map::QueryMap,
) -> String {
    if !multi.is_empty() {
        multi.to_query_string()
    } else {
        single.to_query_string()
    }
}

/// The answer to an event refused before the core sees it.
fn bad_request(reason: &'static str) -> http::Response<Bytes> {
    tracing::warn!(code = ErrorCode::BadRequest.as_str(), reason, "event refused by the adapter");
    crate::web::pages::error(
        &Failure::new(ErrorCode::BadRequest, reason),
        false,
        "-",
        crate::config::Mount::Api.login_path(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Text from characters that matter to URL and header parsers.
    fn tricky(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[a-z0-9 .:/?#@%\\[\\]\\\\|^{{}}\"<>`é=&+-]{{0,{max}}}")).unwrap()
    }

    /// A REST, HTTP API or ALB event with the given parts, as the runtime would deliver it.
    fn event(
        kind: u8,
        host: Option<&str>,
        proto: Option<&str>,
        path: &str,
        stage: &str,
        query: &str,
        body: &str,
    ) -> serde_json::Value {
        let mut headers = serde_json::Map::new();
        if let Some(h) = host {
            headers.insert("host".into(), json!(h));
        }
        if let Some(p) = proto {
            headers.insert("x-forwarded-proto".into(), json!(p));
        }
        let multi: serde_json::Map<_, _> = headers.iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
        match kind {
            0 => json!({"httpMethod": "GET", "path": path, "headers": headers, "multiValueHeaders": multi,
                        "queryStringParameters": {"q": query}, "multiValueQueryStringParameters": {"q": [query]},
                        "requestContext": {"stage": stage, "httpMethod": "GET", "requestId": "r", "domainName": "d.example"},
                        "body": body, "isBase64Encoded": true}),
            1 => json!({"version": "2.0", "rawPath": path, "rawQueryString": query, "headers": headers,
                        "requestContext": {"stage": stage, "http": {"method": "GET", "path": path}, "domainName": "d.example"},
                        "body": body, "isBase64Encoded": true}),
            _ => json!({"httpMethod": "GET", "path": path, "multiValueHeaders": multi,
                        "multiValueQueryStringParameters": {"q": [query]},
                        "requestContext": {"elb": {"targetGroupArn": "arn"}}, "body": body, "isBase64Encoded": true}),
        }
    }

    fn host() -> impl Strategy<Value = Option<String>> {
        prop_oneof![Just(None), "[a-z0-9.-]{1,12}(:[0-9]{1,5})?".prop_map(Some), tricky(12).prop_map(Some)]
    }

    fn proto() -> impl Strategy<Value = Option<String>> {
        prop_oneof![Just(None), Just(Some("https".to_owned())), tricky(6).prop_map(Some)]
    }

    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..12)
                .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
            "[A-Za-z0-9+/=]{0,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Whatever passes the checks converts without a panic, and a refusal's blank event too.
        #[test]
        fn checked_events_convert_without_panicking(
            kind in 0u8..3, host in host(), proto in proto(), path in tricky(16), stage in "[a-z$]{0,5}",
            query in tricky(10), body in body(),
        ) {
            let e = event(kind, host.as_deref(), proto.as_deref(), &format!("/{path}"), &stage, &query, &body);
            let Ok(prepared) = prepare(&e.to_string()) else { return Ok(()) };
            let request = match prepared {
                Prepared::Ready(request) | Prepared::Refused(request, _) => request,
            };
            let converted = std::panic::catch_unwind(move || http::Request::<Body>::from(request));
            prop_assert!(converted.is_ok(), "event {e}");
        }
    }

    #[test]
    fn malformed_hosts_are_refused_and_plain_ones_pass() {
        for (host, ok) in [
            ("a1b2.execute-api.eu-west-1.amazonaws.com", true),
            ("localhost:9000", true),
            ("[::1]:8080", true),
            ("192.0.2.1", true),
            ("a b", false),
            ("[::1", false),
            ("a%zz", false),
            ("h:99999", false),
            ("x/y", false),
            ("user@h", false),
            ("h?q", false),
            ("", false),
        ] {
            for kind in 0..3 {
                let e = event(kind, Some(host), None, "/api/health", "prod", "", "");
                let refused = matches!(prepare(&e.to_string()), Ok(Prepared::Refused(..)));
                assert_eq!(refused, !ok, "kind {kind}, Host {host:?}");
            }
        }
    }

    #[test]
    fn several_cookie_headers_become_one() {
        let mut e = event(0, Some("h.example"), None, "/api/me", "prod", "", "");
        e["multiValueHeaders"]["Cookie"] = json!(["a=1", "b=2; c=3"]);
        e["headers"]["Cookie"] = json!("b=2; c=3");
        let Ok(Prepared::Ready(request)) = prepare(&e.to_string()) else { panic!("refused") };
        let request = http::Request::<Body>::from(request);
        let cookies: Vec<_> = request.headers().get_all(COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; b=2; c=3"]);
    }
}
