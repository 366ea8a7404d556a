//! Users in too many groups for a token (groups overage): the callback asks Microsoft Graph
//! which of the deployment's groups they are in, once, and keeps the answer in the session;
//! Graph's faults each end in their own error within the callback's budget; no Graph call
//! for anyone whose token lists the groups.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entra_sso::dev_idp::users::many_group;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::idp_fake::*;

/// A group carol is not in.
const NOBODYS_GROUP: &str = "ffffffff-ffff-4fff-8fff-ffffffffffff";

async fn auth(app: &TestApp, query: &str, jar: &Jar) -> u16 {
    let r = client().get(format!("{}/api/auth{query}", app.base)).header("cookie", jar.header()).send().await.unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn the_overage_user_is_admitted_by_allowed_groups_and_by_route_groups() {
    let wanted = many_group(7);
    let allowed = format!("{NOBODYS_GROUP},{}", wanted.to_uppercase());
    let app = TestApp::with_dev_idp(&[("SSO_ALLOWED_GROUPS", &allowed)]).await;
    let mut jar = Jar::default();
    let r = app.sign_in(&mut jar, "carol").await;
    assert_eq!(r.status(), 302, "carol, in 251 groups, is admitted through Graph");
    let (status, me) = app.me(&mut jar).await;
    assert_eq!(status, 200);
    let groups = serde_json::to_string(&me).unwrap();
    assert!(groups.to_lowercase().contains(&wanted), "{me}");
    assert!(!groups.contains(&many_group(8)), "only the groups that matter are kept: {me}");
    assert_eq!(auth(&app, &format!("?group={wanted}"), &jar).await, 200, "a route's group of hers");
    assert_eq!(auth(&app, &format!("?group={NOBODYS_GROUP}"), &jar).await, 403, "a route's group she is not in");
}

/// The lookup answers for the named groups only: with `SSO_SESSION_GROUPS` set that is every
/// group a session keeps, so the overage is gone; without it a `?group=` may name any group,
/// so the session keeps the flag beside the groups found and never reads "not asked" as "not
/// a member".
#[tokio::test]
async fn the_overage_flag_stays_unless_the_kept_groups_are_listed() {
    let wanted = many_group(7);
    for (listed, overage_left) in [(None, true), (Some(wanted.as_str()), false)] {
        let mut vars = vec![("SSO_ALLOWED_GROUPS", wanted.as_str())];
        vars.extend(listed.map(|g| ("SSO_SESSION_GROUPS", g)));
        let app = TestApp::with_dev_idp(&vars).await;
        let mut jar = Jar::default();
        assert_eq!(app.sign_in(&mut jar, "carol").await.status(), 302);
        let (_, me) = app.me(&mut jar).await;
        assert_eq!(me["groups"], json!([wanted]), "{listed:?}");
        assert_eq!(me["groups_overage"], json!(overage_left), "{listed:?}");
        assert_eq!(auth(&app, &format!("?group={wanted}"), &jar).await, 200, "{listed:?}");
    }
}

#[tokio::test]
async fn an_overage_user_in_none_of_the_groups_is_refused_by_the_policy() {
    let app = TestApp::with_dev_idp(&[("SSO_ALLOWED_GROUPS", NOBODYS_GROUP)]).await;
    let mut jar = Jar::default();
    let (status, code) = error_code(app.sign_in(&mut jar, "carol").await).await;
    assert_eq!((status, code.as_str()), (403, "access_denied_by_policy"));
}

#[tokio::test]
async fn without_a_group_rule_the_overage_user_signs_in_without_graph() {
    let app = TestApp::with_dev_idp(&[]).await;
    let mut jar = Jar::default();
    assert_eq!(app.sign_in(&mut jar, "carol").await.status(), 302);
}

/// An instance against the fake with a group rule and a one-second budget.
async fn app_for(idp: &FakeIdp, groups: &str) -> TestApp {
    let mut s = settings(&idp.authority, &[("SSO_ALLOWED_GROUPS", groups)]);
    s.request_timeout = Duration::from_secs(1);
    spawn_with(s).await
}

fn overage(idp: &FakeIdp) -> Value {
    let mut c = idp.claims("");
    c["_claim_names"] = json!({"groups": "src1"});
    c["_claim_sources"] = json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}});
    c
}

fn oid_guid(mut c: Value) -> Value {
    c["oid"] = "0a0a0a0a-0000-4000-8000-00000000000a".into();
    c
}

#[tokio::test]
async fn graph_faults_each_have_their_code_and_end_within_the_budget() {
    let (idp, _s) = FakeIdp::spawn().await;
    let group = many_group(1);
    let app = app_for(&idp, &group).await;
    *idp.graph_members.lock().unwrap() = vec![group.clone()];
    for (fault, expected) in [
        (Some(GraphFault::Throttled), (503, "groups_throttled")),
        (Some(GraphFault::Forbidden), (502, "groups_forbidden")),
        (Some(GraphFault::Unavailable), (502, "groups_unavailable")),
        (Some(GraphFault::Delay(Duration::from_secs(4))), (502, "groups_unavailable")),
    ] {
        *idp.graph_fault.lock().unwrap() = fault;
        let started = Instant::now();
        let SignIn { status, code, .. } = sign_in_with(&app, &idp, 0, "k0", oid_guid(overage(&idp))).await;
        assert_eq!((status, code.as_str()), expected, "{fault:?}");
        assert!(started.elapsed() < Duration::from_millis(2500), "{fault:?} took {:?}", started.elapsed());
    }
    *idp.graph_fault.lock().unwrap() = None;
    let SignIn { status, .. } = sign_in_with(&app, &idp, 0, "k0", oid_guid(overage(&idp))).await;
    assert_eq!(status, 302, "signs in once Graph recovers");
    assert_eq!(idp.app_token_requests.load(Ordering::SeqCst), 1, "the app-only token is cached");
}

#[tokio::test]
async fn graph_is_asked_only_for_overage_and_in_calls_of_twenty() {
    let (idp, _s) = FakeIdp::spawn().await;
    let groups: Vec<String> = (0..45).map(many_group).collect();
    let app = app_for(&idp, &groups.join(",")).await;
    *idp.graph_members.lock().unwrap() = vec![many_group(44)];

    let mut listed = oid_guid(idp.claims(""));
    listed["groups"] = json!([many_group(44)]);
    assert_eq!(sign_in_with(&app, &idp, 0, "k0", listed).await.status, 302);
    assert_eq!(idp.graph_requests.load(Ordering::SeqCst), 0, "no Graph call when the token lists the groups");
    assert_eq!(idp.app_token_requests.load(Ordering::SeqCst), 0);

    let SignIn { status, .. } = sign_in_with(&app, &idp, 0, "k0", oid_guid(overage(&idp))).await;
    assert_eq!(status, 302);
    let mut asked = idp.graph_asked.lock().unwrap().clone();
    asked.sort_unstable();
    assert_eq!(asked, vec![5, 20, 20], "45 ids in calls of at most 20");

    *idp.graph_members.lock().unwrap() = vec![];
    let SignIn { status, code, .. } = sign_in_with(&app, &idp, 0, "k0", oid_guid(overage(&idp))).await;
    assert_eq!((status, code.as_str()), (403, "access_denied_by_policy"), "Graph says: in none of them");
}

#[tokio::test]
async fn a_bearer_token_with_overage_is_looked_up_once_per_token() {
    let wanted = many_group(9);
    let app = TestApp::with_dev_idp(&[("SSO_ALLOWED_GROUPS", &wanted)]).await;
    let scope = format!("openid profile api://{CLIENT_ID}/access_as_user");
    let carol = crate::bearer::spa_token(app.authority(), REDIRECT_URI, "carol", &scope).await;
    let call = |token: String, query: String| {
        let base = app.base.clone();
        async move {
            let r = client().get(format!("{base}/api/auth{query}")).bearer_auth(token).send().await.unwrap();
            r.status().as_u16()
        }
    };
    assert_eq!(call(carol.clone(), String::new()).await, 200, "carol's token passes the group rule through Graph");
    assert_eq!(call(carol.clone(), format!("?group={wanted}")).await, 200);
    assert_eq!(call(carol, format!("?group={NOBODYS_GROUP}")).await, 403);

    let (idp, _s) = FakeIdp::spawn().await;
    let fake_app = app_for(&idp, &wanted).await;
    *idp.graph_members.lock().unwrap() = vec![wanted.clone()];
    let now = entra_sso::support::time::now();
    let claims = json!({
        "aud": CLIENT_ID, "iss": idp.issuer_for(TENANT), "ver": "2.0", "tid": TENANT,
        "oid": "0a0a0a0a-0000-4000-8000-00000000000a", "sub": "s", "azp": "11111111-5555-4555-8555-555555555555",
        "scp": "access_as_user", "iat": now, "nbf": now, "exp": now + 3600, "_claim_names": {"groups": "src1"},
    });
    let token = sign_rs256(test_key(0), "k0", &claims);
    let status = |token: String| {
        let base = fake_app.base.clone();
        async move {
            let r = client()
                .get(format!("{base}/api/me"))
                .bearer_auth(token)
                .header("accept", "application/json")
                .send()
                .await
                .unwrap();
            error_code(r).await
        }
    };
    *idp.graph_fault.lock().unwrap() = Some(GraphFault::Forbidden);
    assert_eq!(status(token.clone()).await, (502, "groups_forbidden".to_owned()));
    *idp.graph_fault.lock().unwrap() = None;
    assert_eq!(status(token.clone()).await.0, 200);
    assert_eq!(status(token).await.0, 200);
    assert_eq!(idp.graph_asked.lock().unwrap().len(), 1, "one lookup per token, then the verification cache");
}
