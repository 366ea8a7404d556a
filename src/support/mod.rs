//! The bottom layer: rules every other layer shares and none owns. Time ([`time`]: the clock,
//! calendar dates, HTTP-dates and RFC 3339 instants), text ([`text`]: the one cleaner for
//! untrusted text bound for logs and pages, what may be said of a secret, random GUIDs), and
//! [`ct_eq`], the one comparison for secrets.

pub mod text;
pub mod time;

/// Constant-time equality of two byte strings (lengths are not secret): the one comparison
/// for every secret or secret-derived value.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
