//! The AWS Lambda adapter: the same core behind `lambda_http`, for API Gateway HTTP APIs (v2),
//! Function URLs, REST APIs (v1, stage prefixes removed) and Application Load Balancers.
//!
//! `lambda_http` decodes base64 bodies, joins a v2 event's `cookies` array into a `Cookie`
//! header, and on the way out puts each `Set-Cookie` into the v2 `cookies` array or into
//! `multiValueHeaders` (v1, ALB). The binary enters this mode when the Lambda runtime starts it
//! (`AWS_LAMBDA_RUNTIME_API` set, no arguments).
//!
//! Events are read here rather than by `lambda_http::run`, to repair them before `lambda_http`
//! turns them into requests: it keeps only the last of several `Cookie` headers of a REST event.

use std::sync::Arc;

use bytes::Bytes;
use http::header::COOKIE;
use http::HeaderValue;
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, Body, RequestExt, Service};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::App;

/// Converts a Lambda request to the core's request.
pub fn to_core(event: lambda_http::Request) -> http::Request<Bytes> {
    let stage = stage(&event);
    let (mut parts, body) = event.into_parts();
    if let Some(stage) = stage {
        parts.uri = strip_stage(&parts.uri, &stage);
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

/// Answers one Lambda event, given as its JSON text: has `lambda_http` convert it and answers
/// with the response shape its origin expects (what the runtime serializes). An event that is not
/// an HTTP event of a supported kind is an error.
pub async fn respond(app: Arc<App>, event: LambdaEvent<Box<RawValue>>) -> Result<impl Serialize, lambda_http::Error> {
    let LambdaEvent { payload, context } = event;
    let mut request: LambdaRequest = serde_json::from_str(payload.get())?;
    join_cookie_headers(&mut request);
    // `Adapter` is the conversion `lambda_http::run` itself uses; `LambdaResponse`, the shape of
    // each origin's answer, is public only through it.
    let mut adapter =
        Adapter::from(lambda_http::service_fn(move |req: lambda_http::Request| handle(Arc::clone(&app), req)));
    std::future::poll_fn(|cx| adapter.poll_ready(cx)).await?;
    adapter.call(LambdaEvent::new(request, context)).await
}

/// Serves `app` on the Lambda runtime until it stops the process.
pub async fn run(app: Arc<App>) -> Result<(), lambda_http::Error> {
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event| respond(Arc::clone(&app), event))).await
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
