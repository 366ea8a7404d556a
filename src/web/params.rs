//! Query-string and form parsing with the strictness the callback needs: a parameter that
//! appears twice is an error, not "the first one wins", so parser differentials between a proxy
//! and this service cannot smuggle a second `state` or `code`.

use std::borrow::Cow;

/// Longest query string or form body parsed.
pub const MAX_PARAMS_LEN: usize = 16 * 1024;

/// Most parameters parsed.
const MAX_PAIRS: usize = 32;

/// Why a parameter could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// The parameter appears more than once.
    Repeated,
    /// The query or body is too long or has too many parameters.
    TooLarge,
}

/// Decoded `name=value` pairs.
pub struct Params<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Params<'a> {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(raw: &'a [u8]) -> Result<Self, ParamError> {
        if raw.len() > MAX_PARAMS_LEN {
            return Err(ParamError::TooLarge);
        }
        let pairs: Vec<_> = url::form_urlencoded::parse(raw).take(MAX_PAIRS + 1).collect();
        if pairs.len() > MAX_PAIRS {
            return Err(ParamError::TooLarge);
        }
        Ok(Self { pairs })
    }

    /// Every pair, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// The value of `name`: `Ok(None)` when absent, an error when repeated.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ParamError> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if k == name {
                if found.is_some() {
                    return Err(ParamError::Repeated);
                }
                found = Some(v.as_ref());
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_values_and_repeats() {
        let p = Params::parse(b"a=1&b=x%20y&a=2").unwrap();
        assert_eq!(p.single("b"), Ok(Some("x y")));
        assert_eq!(p.single("a"), Err(ParamError::Repeated));
        assert_eq!(p.single("c"), Ok(None));
    }

    #[test]
    fn limits() {
        assert!(Params::parse(&vec![b'a'; MAX_PARAMS_LEN + 1]).is_err());
        let many = (0..40).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
        assert!(Params::parse(many.as_bytes()).is_err());
    }
}
