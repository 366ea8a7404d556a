//! What crosses the HTTP boundary, framework-free: strict readers of what the browser sends
//! ([`cookies`], [`params`], [`return_to`]), absolute-URL rules ([`url`]), the cloud zones no
//! session cookie may be scoped to ([`cloud_zones`]), and what is sent
//! back ([`errors`]: the public error codes; [`pages`]: the HTML, JSON and redirects that carry
//! them; [`principal`]: App Service's identity headers). Named `web` so it never shadows the `http` crate it builds on.

pub mod cloud_zones;
pub mod cookies;
pub mod errors;
pub mod pages;
pub mod params;
pub mod principal;
pub mod return_to;
pub mod url;
