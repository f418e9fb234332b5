//! Whether a string is an absolute http(s) URI in RFC 3986 syntax.
//!
//! Browsers repair what they are given (a space becomes `%20`); RBM does not, so this
//! check takes the grammar literally: every character outside the URI alphabet must
//! arrive percent-encoded.

/// Why `text` is not an absolute http(s) URI, or `None` when it is one.
pub fn http_uri_problem(text: &str) -> Option<String> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Some("it is not absolute; give a scheme and host, as in https://host/".into());
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Some(format!("the scheme {scheme:?} is not http or https"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    authority_problem(authority).or_else(|| tail_problem(tail))
}

/// `[userinfo@]host[:port]`.
fn authority_problem(authority: &str) -> Option<String> {
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo {
        if let Some(problem) = characters_problem(userinfo, |c| plain(c) || c == ':') {
            return Some(problem);
        }
    }
    let (host, port) = split_host_port(host_port);
    if host.is_empty() {
        return Some("it has no host".into());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("the port {port:?} is not a number"));
    }
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(ip) => characters_problem(ip, |c| c.is_ascii_hexdigit() || c == ':' || c == '.'),
        None => characters_problem(host, plain),
    }
}

/// The port follows the last `:` that is not inside an `[IPv6]` literal.
fn split_host_port(host_port: &str) -> (&str, &str) {
    let from = host_port.rfind(']').map_or(0, |i| i + 1);
    match host_port[from..].rfind(':') {
        Some(i) => (&host_port[..from + i], &host_port[from + i + 1..]),
        None => (host_port, ""),
    }
}

/// Path, query and fragment; a second `#` is not allowed.
fn tail_problem(tail: &str) -> Option<String> {
    let allowed = |c: char| plain(c) || matches!(c, ':' | '@' | '/' | '?');
    let (before, fragment) = tail.split_once('#').unwrap_or((tail, ""));
    characters_problem(before, allowed).or_else(|| characters_problem(fragment, allowed))
}

fn characters_problem(text: &str, allowed: impl Fn(char) -> bool) -> Option<String> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let hex = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit());
            if !(hex(chars.next()) && hex(chars.next())) {
                return Some("a % is not followed by two hex digits".into());
            }
        } else if !allowed(c) {
            return Some(format!("{c:?} must be percent-encoded"));
        }
    }
    None
}

/// RFC 3986 unreserved characters and sub-delimiters.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_addresses_pass() {
        for url in [
            "https://example.com",
            "HTTP://shop.example:8080/a/b?x=1&y=%C3%A9#frag",
            "https://u:p@example.com/",
            "https://[::1]:443/x",
        ] {
            assert_eq!(http_uri_problem(url), None, "{url}");
        }
    }

    #[test]
    fn malformed_addresses_are_named() {
        for url in [
            "example.com",
            "ftp://example.com",
            "https:///x",
            "https://example.com:80a/",
            "https://example.com/a b",
            "https://example.com/%G1",
            "https://example.com/#a#b",
            "https://exämple.com/",
        ] {
            assert!(http_uri_problem(url).is_some(), "{url}");
        }
    }
}
