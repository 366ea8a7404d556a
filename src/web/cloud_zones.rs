//! Zones in which cloud services give their customers' resources default host names.
//!
//! A session cookie scoped to such a zone, to a domain between the zone and one customer's host
//! (`<region>.cloudapp.azure.com`), or to a domain above the zone (`azure.com`) reaches every
//! other customer's host there, and any of them can plant one. The Public Suffix List, which
//! `SSO_COOKIE_DOMAIN` is also checked against, lists some of these zones and not others, and
//! where it lists one it rarely lists the shared levels below it. So `SSO_COOKIE_DOMAIN` is
//! refused in, at or above any zone of [`SHARED_CLOUD_ZONES`], except when it is the redirect
//! URI's own host (the cookie then reaches that host and its subdomains only), which is worth a
//! warning instead ([`default_host_warning`]).

use crate::web::cookies::parents_to_registrable;

/// A zone under which a cloud service names its customers' hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudZone {
    /// The zone: lower case, no leading dot.
    pub zone: &'static str,
    /// Whose default host names it holds, for messages ("the default host names of …").
    pub service: &'static str,
}

const fn zone(zone: &'static str, service: &'static str) -> CloudZone {
    CloudZone { zone, service }
}

/// Every zone known to hold other customers' hosts, with the documentation of the host name
/// format it comes from. `tests::the_public_suffix_list_holds_only_some_zones` records which of
/// them the Public Suffix List knows.
pub const SHARED_CLOUD_ZONES: &[CloudZone] = &[
    // ---- Microsoft Azure ----
    // App Service and Azure Functions: `<app>.azurewebsites.net`, unique default host names
    // `<app>-<hash>.<region>-01.azurewebsites.net`, the Kudu site `<app>.scm.azurewebsites.net`
    // (Microsoft Learn, App Service: "Map an existing custom DNS name", "Unique default hostname").
    zone("azurewebsites.net", "Azure App Service and Functions apps"),
    // Static Web Apps: `<name>.<n>.azurestaticapps.net` (Microsoft Learn, Static Web Apps:
    // "Custom domains in Azure Static Web Apps").
    zone("azurestaticapps.net", "Azure Static Web Apps"),
    // Front Door: `<endpoint>-<hash>.z01.azurefd.net` (Standard/Premium), `<name>.azurefd.net`
    // (classic) (Microsoft Learn, https://learn.microsoft.com/azure/frontdoor/endpoint, "Endpoint
    // domain names").
    zone("azurefd.net", "Azure Front Door endpoints"),
    // Azure CDN: `<endpoint>.azureedge.net` (Microsoft Learn, @azure/arm-cdn `AFDEndpoint`: "the
    // URL format <endpointname>.azureedge.net").
    zone("azureedge.net", "Azure CDN endpoints"),
    // Container Apps: `<app>.<environment id>.<region>.azurecontainerapps.io` (Microsoft Learn,
    // https://learn.microsoft.com/azure/container-apps/connect-apps, "Location").
    zone("azurecontainerapps.io", "Azure Container Apps"),
    // Container Instances: `<dns label>.<region>.azurecontainer.io` (Microsoft Learn, Container
    // Instances quickstart, "DNS name label").
    zone("azurecontainer.io", "Azure Container Instances"),
    // Public IP addresses of virtual machines: `<dns label>.<region>.cloudapp.azure.com`
    // (Microsoft Learn, "Public IP addresses", DNS name label: "the domain name label and the
    // regionalized DNS zone").
    zone("cloudapp.azure.com", "Azure virtual machines (public IP DNS names)"),
    // Cloud Services (classic): `<service>.cloudapp.net` (Microsoft Learn, "Configuring a custom
    // domain name for an Azure cloud service").
    zone("cloudapp.net", "Azure Cloud Services"),
    // API Management: `<service>.azure-api.net` (Microsoft Learn, API Management: "Configure a
    // custom domain name").
    zone("azure-api.net", "Azure API Management services"),
    // Traffic Manager: `<profile>.trafficmanager.net` (Microsoft Learn, "Traffic Manager
    // overview").
    zone("trafficmanager.net", "Azure Traffic Manager profiles"),
    // Storage: `<account>.blob.core.windows.net`, static websites
    // `<account>.z<n>.web.core.windows.net` (Microsoft Learn, "Storage account overview",
    // standard endpoints; "Static website hosting in Azure Storage").
    zone("core.windows.net", "Azure Storage accounts"),
    // ---- Azure Government ----
    // The same services' zones (Microsoft Learn, "Azure Government developer guide" and "Compare
    // Azure Government and global Azure", endpoint mapping).
    zone("azurewebsites.us", "Azure Government App Service apps"),
    zone("azure-api.us", "Azure Government API Management services"),
    zone("cloudapp.usgovcloudapi.net", "Azure Government virtual machines"),
    zone("usgovcloudapp.net", "Azure Government Cloud Services"),
    zone("usgovtrafficmanager.net", "Azure Government Traffic Manager profiles"),
    zone("core.usgovcloudapi.net", "Azure Government Storage accounts"),
    // ---- Azure operated by 21Vianet ----
    // The same services' zones (Microsoft Learn, "Azure in China developer guide", endpoints).
    zone("chinacloudsites.cn", "Azure App Service apps operated by 21Vianet"),
    zone("azure-api.cn", "Azure API Management services operated by 21Vianet"),
    zone("cloudapp.chinacloudapi.cn", "Azure virtual machines operated by 21Vianet"),
    zone("chinacloudapp.cn", "Azure Cloud Services operated by 21Vianet"),
    zone("trafficmanager.cn", "Azure Traffic Manager profiles operated by 21Vianet"),
    zone("core.chinacloudapi.cn", "Azure Storage accounts operated by 21Vianet"),
    // ---- Amazon Web Services ----
    // API Gateway `<api id>.execute-api.<region>.amazonaws.com` (API Gateway Developer Guide,
    // "Invoke a REST API"), Elastic Load Balancing `<name>-<id>.<region>.elb.amazonaws.com`
    // (Classic Load Balancers guide, "Configure a custom domain name"), S3 website endpoints
    // `<bucket>.s3-website-<region>.amazonaws.com` (S3 User Guide, "Website endpoints").
    zone("amazonaws.com", "Amazon Web Services (API Gateway, Elastic Load Balancing, S3 websites)"),
    // The same in the China regions: `<api id>.execute-api.cn-north-1.amazonaws.com.cn`, … (AWS
    // China documentation, "Amazon Web Services in China" endpoints).
    zone("amazonaws.com.cn", "Amazon Web Services in China"),
    // Lambda function URLs: `<url id>.lambda-url.<region>.on.aws` (Lambda Developer Guide,
    // "Lambda function URLs").
    zone("on.aws", "AWS Lambda function URLs"),
    // CloudFront: `<id>.cloudfront.net` (CloudFront Developer Guide, "Use custom URLs by adding
    // alternate domain names": the distribution domain name `d111111abcdef8.cloudfront.net`).
    zone("cloudfront.net", "Amazon CloudFront distributions"),
    // App Runner: `<id>.<region>.awsapprunner.com` (App Runner Developer Guide, "Managing custom
    // domain names": the App Runner subdomain).
    zone("awsapprunner.com", "AWS App Runner services"),
    // Elastic Beanstalk: `<environment>.<region>.elasticbeanstalk.com` (Elastic Beanstalk
    // Developer Guide, "Your Elastic Beanstalk environment's domain name").
    zone("elasticbeanstalk.com", "AWS Elastic Beanstalk environments"),
    // Amplify Hosting: `<branch>.<app id>.amplifyapp.com` (Amplify Hosting User Guide, "Setting
    // up custom domains").
    zone("amplifyapp.com", "AWS Amplify Hosting apps"),
];

/// Whether `name` is `parent` or a subdomain of it (lower-case names).
fn within(name: &str, parent: &str) -> bool {
    name.strip_suffix(parent).is_some_and(|head| head.is_empty() || head.ends_with('.'))
}

/// The zone `name` is in, or is.
pub fn zone_containing(name: &str) -> Option<&'static CloudZone> {
    SHARED_CLOUD_ZONES.iter().find(|z| within(name, z.zone))
}

/// A zone strictly below `name`: `name` is a parent of every host in it.
pub fn zone_inside(name: &str) -> Option<&'static CloudZone> {
    SHARED_CLOUD_ZONES.iter().find(|z| z.zone != name && within(z.zone, name))
}

/// Why `domain` may not scope a session cookie for a redirect URI on `host`, if it may not: it
/// is a zone, a shared level within one other than `host` itself, or a parent of one.
pub fn refusal(domain: &str, host: &str) -> Option<String> {
    if let Some(z) = zone_containing(domain).filter(|z| domain == z.zone || domain != host) {
        return Some(format!(
            "`{domain}` is shared with other customers: `*.{}` holds the default host names of {}, and their \
             hosts would receive the session cookie and could plant one",
            z.zone, z.service
        ));
    }
    zone_inside(domain).map(|z| {
        format!(
            "`{domain}` is shared with other customers: it contains `*.{}`, the default host names of {}, whose \
             hosts would receive the session cookie and could plant one",
            z.zone, z.service
        )
    })
}

/// The advice that goes with a [`refusal`].
pub const REFUSAL_FIX: &str = "put the apps on a custom domain you own, or leave SSO_COOKIE_DOMAIN unset";

/// When the redirect URI's `host` is itself a default host name in a zone (so the only cookie
/// domain accepted for it is `host`): what is wrong with sharing the cookie there, and what to
/// do instead.
pub fn default_host_warning(host: &str) -> Option<(String, &'static str)> {
    let z = zone_containing(host)?;
    let parents = parents_to_registrable(host);
    let planted = match parents.last() {
        None => ", among other customers' hosts".to_owned(),
        Some(registrable) => format!(
            ": hosts under {registrable}, other customers' among them, can plant a session cookie for {}",
            parents.join(", ")
        ),
    };
    Some((
        format!("{host} is a default host name of {} (`*.{}`){planted}", z.service, z.zone),
        "leave SSO_COOKIE_DOMAIN unset: the host-only __Host-sso-session cannot be planted by another host; to \
         share the session, put the apps on a custom domain",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_canonical_and_none_holds_another() {
        for z in SHARED_CLOUD_ZONES {
            assert_eq!(z.zone, z.zone.to_ascii_lowercase(), "{}", z.zone);
            assert!(!z.zone.starts_with('.') && z.zone.contains('.'), "{}", z.zone);
            assert_eq!(zone_containing(z.zone), Some(z), "listed once: {}", z.zone);
            assert_eq!(zone_inside(z.zone), None, "{} holds another listed zone", z.zone);
        }
    }

    #[test]
    fn names_match_on_label_boundaries_only() {
        assert_eq!(zone_containing("a.b.azurefd.net").map(|z| z.zone), Some("azurefd.net"));
        assert_eq!(zone_containing("azurefd.net").map(|z| z.zone), Some("azurefd.net"));
        assert_eq!(zone_containing("notazurefd.net"), None);
        assert_eq!(zone_containing("azurefd.net.contoso.com"), None);
        assert_eq!(zone_inside("azure.com").map(|z| z.zone), Some("cloudapp.azure.com"));
        assert_eq!(zone_inside("cloudapp.azure.com"), None);
        assert_eq!(zone_inside("contoso.com"), None);
    }

    #[test]
    fn only_the_redirect_host_itself_is_accepted_within_a_zone() {
        let host = "myvm.westeurope.cloudapp.azure.com";
        assert_eq!(refusal(host, host), None);
        for domain in ["westeurope.cloudapp.azure.com", "cloudapp.azure.com", "azure.com"] {
            assert!(refusal(domain, host).is_some_and(|r| r.contains("`*.cloudapp.azure.com`")), "{domain}");
        }
        // A zone is refused even as the host itself.
        assert!(refusal("cloudfront.net", "cloudfront.net").is_some());
        assert_eq!(refusal("contoso.com", "sso.contoso.com"), None);
    }

    /// The zones the Public Suffix List (the `psl` crate in Cargo.lock) already lists, where
    /// browsers refuse a cookie for the zone itself; the others are refused only by this table.
    /// When the list changes, this test says so: the table stays needed for the levels below a
    /// zone, which the list mostly leaves out.
    #[test]
    fn the_public_suffix_list_holds_only_some_zones() {
        let listed: Vec<&str> =
            SHARED_CLOUD_ZONES.iter().map(|z| z.zone).filter(|zone| psl::suffix_str(zone) == Some(*zone)).collect();
        assert_eq!(
            listed,
            [
                "azurewebsites.net",
                "azurestaticapps.net",
                "azurefd.net",
                "azureedge.net",
                "cloudapp.net",
                "azure-api.net",
                "trafficmanager.net",
                "azurewebsites.us",
                "azure-api.us",
                "usgovcloudapp.net",
                "usgovtrafficmanager.net",
                "cloudfront.net",
                "elasticbeanstalk.com",
                "amplifyapp.com",
            ]
        );
        // Shared levels below listed zones are not on the list either.
        for shared in ["z01.azurefd.net", "scm.azurewebsites.net", "westeurope.cloudapp.azure.com"] {
            assert_ne!(psl::suffix_str(shared), Some(shared), "{shared}");
        }
    }
}
