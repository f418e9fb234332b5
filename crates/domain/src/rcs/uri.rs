//! The shape of an absolute http(s) URI, as RFC 3986 writes it.
//!
//! RBM wants RFC 3986 URIs in `fallbackUrl`, `openUrlAction.url` and file URLs. Browser
//! URL parsers are more forgiving (they quietly encode spaces and non-ASCII text), so
//! the check is written out here rather than borrowed from one: a URL that passes it
//! is one RBM's own parser reads the same way.

use std::fmt;

/// Why a string is not an absolute http(s) URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlProblem {
    /// No `scheme://` in front.
    NotAbsolute,
    /// A scheme other than `http` or `https`.
    Scheme,
    /// Nothing between `://` and the path.
    NoHost,
    /// A port with something other than digits.
    Port,
    /// A character a URI must percent-encode (a space, non-ASCII text, ...).
    Unencoded(char),
    /// A `%` not followed by two hex digits.
    BadPercent,
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::NotAbsolute => {
                write!(f, "it needs a scheme and host, as in https://example.com/")
            }
            UrlProblem::Scheme => write!(f, "the scheme must be http or https"),
            UrlProblem::NoHost => write!(f, "the host is missing"),
            UrlProblem::Port => write!(f, "the port must be digits"),
            UrlProblem::Unencoded(c) => write!(f, "{c:?} must be percent-encoded"),
            UrlProblem::BadPercent => write!(f, "a % must be followed by two hex digits"),
        }
    }
}

/// Checks that `text` is an absolute `http:` or `https:` URI with a host.
///
/// # Errors
/// The first problem found, scheme first, then the authority, then the rest.
pub fn check_http_url(text: &str) -> Result<(), UrlProblem> {
    let (scheme, rest) = text.split_once("://").ok_or(UrlProblem::NotAbsolute)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(UrlProblem::Scheme);
    }
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    check_authority(authority)?;
    check_tail(tail)
}

/// `[userinfo@]host[:port]`, where the host is a name, an IPv4 address or `[IPv6]`.
fn check_authority(authority: &str) -> Result<(), UrlProblem> {
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            check_characters(userinfo, |c| is_unreserved_or_sub_delim(c) || c == ':')?;
            host_port
        }
        None => authority,
    };
    let (host, port) = split_port(host_port);
    if host.is_empty() {
        return Err(UrlProblem::NoHost);
    }
    if !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(UrlProblem::Port);
    }
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(literal) => check_characters(literal, |c| c.is_ascii_hexdigit() || ".:".contains(c)),
        None => check_characters(host, is_unreserved_or_sub_delim),
    }
}

/// Splits `host:port`; the port is empty when there is none. A `:` inside `[...]`
/// belongs to an IPv6 address, not to the port.
fn split_port(host_port: &str) -> (&str, &str) {
    let after_literal = host_port.rfind(']').map_or(0, |i| i + 1);
    match host_port[after_literal..].rfind(':') {
        Some(i) => (
            &host_port[..after_literal + i],
            &host_port[after_literal + i + 1..],
        ),
        None => (host_port, ""),
    }
}

/// Path, query and fragment: path characters plus `/ ?`, and one `#` at most.
fn check_tail(tail: &str) -> Result<(), UrlProblem> {
    let (before_fragment, fragment) = tail.split_once('#').unwrap_or((tail, ""));
    let allowed = |c: char| is_unreserved_or_sub_delim(c) || ":@/?".contains(c);
    check_characters(before_fragment, allowed)?;
    check_characters(fragment, allowed)
}

/// Every character of `text` is `allowed` or part of a `%XX` escape.
fn check_characters(text: &str, allowed: impl Fn(char) -> bool) -> Result<(), UrlProblem> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let escaped = chars.next().zip(chars.next());
            match escaped {
                Some((a, b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {}
                _ => return Err(UrlProblem::BadPercent),
            }
        } else if !allowed(c) {
            return Err(UrlProblem::Unencoded(c));
        }
    }
    Ok(())
}

/// RFC 3986 `unreserved` and `sub-delims`: the characters any URI part may hold as is.
fn is_unreserved_or_sub_delim(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_web_addresses_pass() {
        for url in [
            "https://example.com",
            "http://example.com/",
            "HTTPS://shop.example.co.uk:8443/orders/1042?utm_source=rcs&x=%E2%9C%93#top",
            "https://user:pw@example.com/a/b",
            "https://192.0.2.7/track",
            "https://[2001:db8::1]:443/t",
            "https://example.com/a:b@c/(x)*!$;=,'~",
        ] {
            assert_eq!(check_http_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn each_malformed_shape_names_its_problem() {
        let cases = [
            ("example.com/track", UrlProblem::NotAbsolute),
            ("/relative/path", UrlProblem::NotAbsolute),
            ("mailto:help@example.com", UrlProblem::NotAbsolute),
            ("ftp://example.com/file", UrlProblem::Scheme),
            ("javascript://example.com", UrlProblem::Scheme),
            ("https:///path", UrlProblem::NoHost),
            ("https://:443/", UrlProblem::NoHost),
            ("https://example.com:44a3/", UrlProblem::Port),
            ("https://example.com/a b", UrlProblem::Unencoded(' ')),
            ("https://exämple.com/", UrlProblem::Unencoded('ä')),
            ("https://example.com/ünïcode", UrlProblem::Unencoded('ü')),
            ("https://example.com/a#b#c", UrlProblem::Unencoded('#')),
            ("https://example.com/[x]", UrlProblem::Unencoded('[')),
            ("https://example.com/%zz", UrlProblem::BadPercent),
            ("https://example.com/%4", UrlProblem::BadPercent),
        ];
        for (url, problem) in cases {
            assert_eq!(check_http_url(url), Err(problem), "{url}");
        }
    }
}
