//! Text: the one cleaner for untrusted text on its way to a log line, an error page or a
//! doctor line ([`cap`]), what may be said of text that must never be shown ([`shape`]), and
//! random GUIDs ([`guid`]).

/// `s` as one printable line of at most `max` characters: control characters (newlines, ANSI
/// escapes, NUL) become spaces, runs of white space one space, and a cut is marked with `…`.
/// Every piece of untrusted text (a path, a provider's error description, a platform's answer)
/// goes through it before it is logged or shown.
pub fn cap(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 4));
    let mut taken = 0;
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if taken + usize::from(space) >= max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            taken += 1;
            space = false;
        }
        out.push(c);
        taken += 1;
    }
    out
}

/// All that may be said of text that must never be shown, such as a credential setting's
/// value: its length, what it looks like (`of`, may be empty) and its line count when it has
/// several ("1,637 characters of base64 text on 26 lines"). [`cap`]'s counterpart, which shows
/// a prefix.
pub fn shape(s: &str, of: &str) -> String {
    let digits = s.chars().count().to_string();
    let mut out = String::with_capacity(64);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out.push_str(if digits == "1" { " character" } else { " characters" });
    if !of.is_empty() {
        out.push_str(" of ");
        out.push_str(of);
    }
    let lines = s.lines().count();
    if lines > 1 {
        out.push_str(&format!(" on {lines} lines"));
    }
    out
}

/// A random GUID, version 4 (trace and correlation ids, assertion `jti`s).
pub fn guid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random generator is available");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_makes_one_printable_line_and_marks_the_cut() {
        assert_eq!(cap("plain", 10), "plain");
        assert_eq!(cap("a\r\nInjected: yes\x1b[31m", 100), "a Injected: yes [31m");
        assert_eq!(cap("  lead   and\ttrail  ", 100), "lead and trail");
        assert_eq!(cap("abcdef", 3), "abc…");
        assert_eq!(cap("ab cdef", 3), "ab…");
        assert_eq!(cap("", 3), "");
        assert_eq!(cap("é€😀x", 3), "é€😀…");
    }

    #[test]
    fn shape_says_length_and_lines_only() {
        assert_eq!(shape("", ""), "0 characters");
        assert_eq!(shape("x", ""), "1 character");
        assert_eq!(shape(&"k".repeat(999), ""), "999 characters");
        assert_eq!(shape(&"k".repeat(1732), "base64 text"), "1,732 characters of base64 text");
        assert_eq!(shape(&"k".repeat(1_234_567), ""), "1,234,567 characters");
        assert_eq!(shape("ab\ncd\n", "text"), "6 characters of text on 2 lines");
        assert_eq!(shape("é\r\nü", ""), "4 characters on 2 lines");
        assert!(!shape("hunter2-hunter2", "").contains("hunter"));
    }

    #[test]
    fn guids_are_version_4() {
        let g = guid();
        assert_eq!(g.len(), 36);
        assert!(crate::idp::authority::is_guid(&g), "{g}");
        assert_eq!(&g[14..15], "4");
        assert!(matches!(&g[19..20], "8" | "9" | "a" | "b"), "{g}");
        assert_ne!(g, guid());
    }
}
