//! Time: the clock ([`now`], and [`Clock`] where a component takes it injected so its tests can
//! run on paused time), and the only calendar code: Unix seconds to and from dates, HTTP-dates
//! (RFC 9110) and RFC 3339 instants, through the `httpdate` and `time` crates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The wall clock in Unix milliseconds (EMF timestamps), 0 before 1970.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where a component reads the time, in Unix seconds.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The system's wall clock: what production uses.
    #[default]
    Wall,
    /// Starts at `unix` and moves with tokio's clock, so `tokio::time::pause` and `advance`
    /// move it too: tests wait for hours without sleeping.
    Tokio {
        /// The Unix time at `start`.
        unix: u64,
        /// tokio's instant that corresponds to `unix`.
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `unix` now and then follows tokio's (possibly paused) time.
    pub fn tokio_at(unix: u64) -> Self {
        Clock::Tokio { unix, start: tokio::time::Instant::now() }
    }

    /// Unix seconds.
    pub fn now(&self) -> u64 {
        match self {
            Clock::Wall => now(),
            Clock::Tokio { unix, start } => unix + start.elapsed().as_secs(),
        }
    }
}

fn to_unix(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

fn utc(secs: u64) -> time::OffsetDateTime {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// An HTTP-date (RFC 9110 §5.6.7: the IMF-fixdate, and the obsolete RFC 850 and asctime forms
/// a recipient must accept) as Unix seconds.
pub fn parse_http_date(value: &str) -> Option<u64> {
    httpdate::parse_http_date(value).ok().and_then(to_unix)
}

/// A `Retry-After` value (RFC 9110 §10.2.3): delay seconds, or an HTTP-date taken relative to
/// `now`; a date in the past is `0`. `None` when it is neither.
pub fn retry_after_secs(value: &str, now: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok();
    }
    parse_http_date(value).map(|at| at.saturating_sub(now))
}

/// An RFC 3339 instant (`2026-12-03T06:00:00Z`, fractions and offsets allowed) as Unix seconds;
/// `None` before 1970.
pub fn parse_rfc3339(value: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// `YYYY-MM-DD` (UTC) of Unix seconds.
pub fn format_date(secs: u64) -> String {
    let t = utc(secs);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `YYYY-MM-DD hh:mm:ssZ` (UTC) of Unix seconds, as Entra writes timestamps in error answers.
pub fn format_timestamp(secs: u64) -> String {
    let t = utc(secs);
    format!("{} {:02}:{:02}:{:02}Z", format_date(secs), t.hour(), t.minute(), t.second())
}

/// Unix seconds as a [`SystemTime`] (for APIs that take one).
pub fn system_time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(retry_after_secs("120", 0), Some(120));
        assert_eq!(retry_after_secs(" 7 ", 0), Some(7));
        assert_eq!(retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700), Some(77));
        assert_eq!(retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800), Some(0));
        for bad in ["", "-1", "1.5", "soon", "99999999999999999999"] {
            assert_eq!(retry_after_secs(bad, 0), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_in_the_three_forms() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"), Some(1_709_208_000));
        for bad in
            ["", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT"]
        {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_instants() {
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00.123Z"), Some(1_709_208_000));
        assert_eq!(parse_rfc3339("2024-02-29T13:00:00+01:00"), Some(1_709_208_000));
        for bad in ["", "2024-02-30T12:00:00Z", "2024-02-29T12:00:00", "1969-12-31T23:59:59Z"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_and_timestamps_in_utc() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(1_709_208_000), "2024-02-29");
        assert_eq!(format_date(20_819 * 86_400), "2027-01-01");
        assert_eq!(format_timestamp(1_709_208_000 + 3_723), "2024-02-29 13:02:03Z");
    }

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_follows_paused_time() {
        let clock = Clock::tokio_at(1_000);
        assert_eq!(clock.now(), 1_000);
        tokio::time::advance(Duration::from_secs(3_600)).await;
        assert_eq!(clock.now(), 4_600);
        assert!(Clock::Wall.now() > 1_700_000_000);
    }
}
