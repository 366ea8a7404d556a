//! Entra's AADSTS codes: the one parser ([`aadsts_code`]) and the one table from a code to its
//! likely cause and fix ([`hint`]), read by the token call's error (so the callback's log line
//! carries the fix), by the callback's IdP-error detail, and by `doctor`.

use super::credential::CredentialKind;

/// Where every AADSTS code is explained, for codes the table does not know.
pub const REFERENCE: &str =
    "see the AADSTS code in Microsoft's error reference (https://learn.microsoft.com/entra/identity-platform/reference-error-codes)";

/// Which credentials a hint applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applies {
    /// Any credential.
    Any,
    /// A certificate.
    Certificate,
    /// A federated credential (managed identity, workload identity, AWS).
    Federated,
    /// A client secret.
    Secret,
}

impl Applies {
    fn matches(self, kind: Option<CredentialKind>) -> bool {
        match self {
            Applies::Any => true,
            Applies::Certificate => kind == Some(CredentialKind::Certificate),
            Applies::Federated => kind.is_some_and(CredentialKind::is_federated),
            Applies::Secret => kind == Some(CredentialKind::Secret),
        }
    }
}

/// Appended to every "no matching federated identity record" hint: Entra takes minutes to see
/// a federated credential that was just added or changed.
const PROPAGATING: &str = "if the federated credential was added or changed in the last few minutes, it may still be \
                           propagating: retry in five minutes before changing anything";

/// (AADSTS code, credentials it applies to, likely cause and fix). The first row matching the
/// code and the credential wins.
const HINTS: &[(u32, Applies, &str)] = &[
    (
        700027,
        Applies::Certificate,
        "the certificate is not registered on the app registration, or the signature does not verify: upload \
         SSO_CLIENT_CERTIFICATE's certificate (public part) under Certificates & secrets > Certificates and check \
         that its thumbprint matches",
    ),
    (
        700027,
        Applies::Federated,
        "Entra could not verify the platform token's signature: check that the federated credential's issuer is \
         the platform's issuer URL, whose keys Entra fetches",
    ),
    (
        700213,
        Applies::Any,
        "no federated credential matches the token's subject (or issuer): the app registration's federated \
         credential must name exactly the subject and issuer the platform puts in the token",
    ),
    (
        70021,
        Applies::Any,
        "no federated credential matches the token's subject or issuer: the app registration's federated \
         credential must name exactly the subject and issuer the platform puts in the token",
    ),
    (
        700211,
        Applies::Any,
        "no federated credential matches the token's issuer: set the federated credential's issuer to the \
         platform's issuer URL exactly (scheme, host, path, no trailing slash unless the token has one)",
    ),
    (
        700212,
        Applies::Any,
        "no federated credential matches the token's audience: the federated credential's audience must be \
         api://AzureADTokenExchange (api://AzureADTokenExchangeUSGov or api://AzureADTokenExchangeChina in those \
         clouds), and the platform must issue the token for it",
    ),
    (
        700023,
        Applies::Any,
        "the client assertion's aud is not this tenant's token endpoint: check SSO_TENANT_ID / SSO_AUTHORITY",
    ),
    (
        700021,
        Applies::Any,
        "the client assertion's iss/sub is not SSO_CLIENT_ID: check that SSO_CLIENT_ID is this app registration's \
         Application (client) ID",
    ),
    (
        700024,
        Applies::Any,
        "the client assertion is outside its valid time range: check the server clock (NTP) and that the platform \
         token has not expired",
    ),
    (
        7000215,
        Applies::Any,
        "SSO_CLIENT_SECRET is not a valid secret of this app registration: copy the secret's Value (not its Secret \
         ID), or move to a certificate or a federated credential",
    ),
    (
        7000222,
        Applies::Any,
        "SSO_CLIENT_SECRET has expired: create a new one, or move to a certificate or a federated credential that \
         does not expire",
    ),
    (
        700016,
        Applies::Any,
        "no app registration with SSO_CLIENT_ID in this tenant: check SSO_CLIENT_ID and SSO_TENANT_ID (the app may \
         live in another tenant, or was deleted)",
    ),
    (
        90002,
        Applies::Any,
        "no such tenant: check SSO_TENANT_ID (the Directory (tenant) ID on the app registration's Overview page)",
    ),
    (
        900023,
        Applies::Any,
        "no such tenant: check SSO_TENANT_ID (the Directory (tenant) ID on the app registration's Overview page)",
    ),
    (
        7000218,
        Applies::Any,
        "the app registration requires a client credential: set SSO_CLIENT_CREDENTIAL (and its material)",
    ),
    (
        700025,
        Applies::Any,
        "the app registration is a public client, which must not send a credential: turn off \"Allow public client \
         flows\" or unset SSO_CLIENT_CREDENTIAL",
    ),
    (
        50012,
        Applies::Certificate,
        "the client assertion was refused: check that the certificate is uploaded to this app registration and \
         that SSO_TENANT_ID is its tenant",
    ),
    (50012, Applies::Secret, "the client secret was refused: check SSO_CLIENT_SECRET (its Value, not its Secret ID)"),
];

/// The likely cause and fix for AADSTS `code` refusing a credential of `kind` (`None` for a
/// public client), with the propagation caveat for federated-record mismatches.
pub fn hint(code: u32, kind: Option<CredentialKind>) -> Option<String> {
    let (_, _, text) = HINTS.iter().find(|(c, applies, _)| *c == code && applies.matches(kind))?;
    let federated_record = matches!(code, 70021 | 700211 | 700212 | 700213);
    Some(if federated_record && kind.is_some_and(CredentialKind::is_federated) {
        format!("{text}; {PROPAGATING}")
    } else {
        (*text).to_owned()
    })
}

/// The number after the first `AADSTS` in an Entra error description.
pub fn aadsts_code(description: &str) -> Option<u32> {
    let start = description.find("AADSTS")?;
    let digits: String = description[start + 6..].chars().take_while(char::is_ascii_digit).take(9).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use CredentialKind::*;

    #[test]
    fn each_refusal_names_its_fix_for_its_credential() {
        let cases: &[(u32, Option<CredentialKind>, &str)] = &[
            (700027, Some(Certificate), "upload SSO_CLIENT_CERTIFICATE's certificate"),
            (700027, Some(ManagedIdentity), "issuer URL"),
            (700213, Some(WorkloadIdentity), "subject"),
            (70021, Some(Aws), "subject or issuer"),
            (700211, Some(Aws), "issuer"),
            (700212, Some(ManagedIdentity), "api://AzureADTokenExchange"),
            (700023, Some(Certificate), "token endpoint"),
            (700021, Some(Certificate), "SSO_CLIENT_ID"),
            (700024, Some(Certificate), "clock"),
            (7000215, Some(Secret), "Value (not its Secret ID)"),
            (7000222, Some(Secret), "expired"),
            (700016, None, "SSO_CLIENT_ID and SSO_TENANT_ID"),
            (7000218, None, "SSO_CLIENT_CREDENTIAL"),
            (700025, Some(Secret), "public client"),
        ];
        for (code, kind, needle) in cases {
            let h = hint(*code, *kind).unwrap_or_else(|| panic!("AADSTS{code} has a hint"));
            assert!(h.contains(needle), "AADSTS{code} for {kind:?}: {h}");
        }
    }

    #[test]
    fn federated_mismatches_mention_propagation_and_others_do_not() {
        for code in [70021, 700211, 700212, 700213] {
            assert!(hint(code, Some(ManagedIdentity)).unwrap().contains("propagating"), "AADSTS{code}");
        }
        assert!(!hint(700027, Some(Certificate)).unwrap().contains("propagating"));
        assert!(!hint(700213, Some(Certificate)).unwrap().contains("propagating"));
    }

    #[test]
    fn credential_specific_rows_do_not_leak_to_other_kinds() {
        assert_eq!(hint(50012, Some(Aws)), None);
        assert_eq!(hint(50012, None), None);
        assert_eq!(hint(12345, Some(Certificate)), None);
    }

    #[test]
    fn codes_are_read_from_descriptions() {
        assert_eq!(aadsts_code("AADSTS700213: No matching federated identity record"), Some(700213));
        assert_eq!(aadsts_code("x AADSTS7000215: Invalid client secret"), Some(7000215));
        assert_eq!(aadsts_code("AADSTS: nothing"), None);
        assert_eq!(aadsts_code("AADSTS99999999999999999999"), Some(999_999_999));
        assert_eq!(aadsts_code("none"), None);
    }
}
