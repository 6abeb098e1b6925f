//! Where a server runs as its clients see it, behind reverse proxies: the scheme, host, port and
//! path prefix a trusted proxy reports in `Forwarded` (RFC 7239) or `X-Forwarded-{Proto,Host,
//! Port,Prefix}`.
//!
//! The headers are read only when the direct peer (the TCP remote address) is a trusted proxy; any
//! client can send them, so from anyone else they are ignored. Every value is validated before it
//! is used, and an invalid one is dropped, never echoed: the scheme must be `http` or `https`, the
//! host a DNS-style name, an IPv4 address or a bracketed IPv6 address with an optional port
//! (1–65535), the prefix a path of safe characters without `.` or `..` segments.
//!
//! - `Forwarded` wins over `X-Forwarded-*`: when a trusted peer sends it, `X-Forwarded-Proto`,
//!   `-Host` and `-Port` are not read (a proxy that writes `Forwarded` may pass the others through
//!   from its client). `X-Forwarded-Prefix` is still read: RFC 7239 has no prefix.
//! - A `Forwarded` chain (`for=a, for=b`, one element per proxy, the last written by the proxy
//!   next to the server) is walked from the last element backwards while its `for` is a trusted
//!   proxy; the element used is the one written by the outermost trusted proxy.
//! - An `X-Forwarded-*` header with several values (comma-separated, or repeated) gives its last
//!   one: the value the proxy next to the server set or appended.

use http::HeaderMap;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address or a network, `ADDR` or `ADDR/BITS` (`10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Whether `ip` is in this network. An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, as a
    /// dual-stack socket reports IPv4 peers) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => masked(u32::from(net).into(), 32, self.bits) == masked(u32::from(ip).into(), 32, self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(net), 128, self.bits) == masked(u128::from(ip), 128, self.bits),
            _ => false,
        }
    }

    /// What is trusted when no `--trusted-proxy` is given: the loopback networks, `127.0.0.0/8`
    /// and `::1`.
    pub fn loopback() -> Vec<Cidr> {
        vec![Cidr { addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), bits: 8 }, Cidr { addr: IpAddr::V6(Ipv6Addr::LOCALHOST), bits: 128 }]
    }
}

/// The top `bits` of a `width`-bit address.
fn masked(value: u128, width: u8, bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        value >> (width - bits)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let error = || format!("`{s}` is not an address or a network (ADDR or ADDR/BITS)");
        let (addr, bits) = match s.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim_start_matches('[').trim_end_matches(']').parse().map_err(|_| error())?;
        let addr = addr.to_canonical();
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(bits) => bits.parse::<u8>().ok().filter(|b| *b <= width && !bits.starts_with('+')).ok_or_else(error)?,
            None => width,
        };
        Ok(Cidr { addr, bits })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

/// Whether `ip` is in one of `trusted`.
pub fn is_trusted(trusted: &[Cidr], ip: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// The service's base URL (without a trailing `/`) for a request with `headers` from the direct
/// peer `peer`: `scheme://host[:port]` + the forwarded prefix + `base_path`. The forwarding headers
/// count only when `peer` is in `trusted`; otherwise (or for what they leave out, or get wrong)
/// the scheme is `http` and the host the `Host` header (`localhost` if it is missing or malformed).
pub fn base_url(headers: &HeaderMap, peer: Option<IpAddr>, trusted: &[Cidr], base_path: &str) -> String {
    let mut public = Public::default();
    if peer.is_some_and(|ip| is_trusted(trusted, ip)) {
        public = forwarded(headers, trusted);
    }
    let host: Cow<'_, str> = match public.host {
        Some(host) => host,
        None => Cow::Borrowed(headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).filter(|h| valid_host(h)).unwrap_or("localhost")),
    };
    let scheme = public.scheme.unwrap_or("http");
    let prefix = public.prefix.unwrap_or("");
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + 6 + prefix.len() + base_path.len());
    url.push_str(scheme);
    url.push_str("://");
    match public.port {
        Some(port) => {
            url.push_str(without_port(&host));
            if !matches!((scheme, port), ("http", 80) | ("https", 443)) {
                url.push(':');
                url.push_str(&port.to_string());
            }
        }
        None => url.push_str(&host),
    }
    url.push_str(prefix);
    url.push_str(base_path);
    url
}

/// The address of the client a request from the direct peer `peer` comes from: `peer` itself,
/// unless it is one of `trusted`; then the address the proxies report, walking their chain back
/// from the server while each hop is trusted — the `for` of `Forwarded`'s elements (which wins
/// when present, as for the URL), else the addresses of `X-Forwarded-For` (every value, comma-
/// separated or repeated, in order). The first address that is not a trusted proxy is the
/// client's. Where a trusted proxy reports no usable address (`for=unknown`, an obfuscated name,
/// a malformed header), the last trusted hop reached stands for the client.
pub fn client(headers: &HeaderMap, peer: IpAddr, trusted: &[Cidr]) -> IpAddr {
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let mut hop = peer;
    if headers.contains_key(http::header::FORWARDED) {
        let mut elements = Vec::new();
        for value in headers.get_all(http::header::FORWARDED) {
            let parsed = value.to_str().ok().and_then(|v| parse_forwarded(v, &mut elements));
            if parsed.is_none() {
                return hop;
            }
        }
        for element in elements.iter().rev() {
            match element.for_.as_deref().and_then(node_ip) {
                Some(ip) if is_trusted(trusted, ip) => hop = ip,
                Some(ip) => return ip,
                None => return hop,
            }
        }
        return hop;
    }
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else { return hop };
        for node in value.rsplit(',').map(str::trim).filter(|n| !n.is_empty()) {
            match node.parse::<IpAddr>().ok().or_else(|| node_ip(node)) {
                Some(ip) if is_trusted(trusted, ip) => hop = ip,
                Some(ip) => return ip,
                None => return hop,
            }
        }
    }
    hop
}

/// What trusted proxies said about the public URL; `None` where they said nothing valid.
#[derive(Debug, Default, PartialEq, Eq)]
struct Public<'a> {
    scheme: Option<&'static str>,
    host: Option<Cow<'a, str>>,
    port: Option<u16>,
    prefix: Option<&'a str>,
}

/// The public URL's parts from the forwarding headers (the peer is trusted).
fn forwarded<'a>(headers: &'a HeaderMap, trusted: &[Cidr]) -> Public<'a> {
    let mut public = Public { prefix: last(headers, "x-forwarded-prefix").and_then(prefix), ..Public::default() };
    if headers.contains_key(http::header::FORWARDED) {
        if let Some(element) = rfc7239(headers, trusted) {
            public.scheme = element.proto.as_deref().and_then(scheme);
            public.host = element.host.filter(|h| valid_host(h));
        }
    } else {
        public.scheme = last(headers, "x-forwarded-proto").and_then(scheme);
        public.host = last(headers, "x-forwarded-host").filter(|h| valid_host(h)).map(Cow::Borrowed);
        public.port = last(headers, "x-forwarded-port").and_then(port);
    }
    public
}

/// The last of the comma-separated values of every `name` header, trimmed; `None` if empty.
fn last<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    Some(value.rsplit(',').next().unwrap_or(value).trim()).filter(|v| !v.is_empty())
}

/// `http` or `https`, any case.
fn scheme(value: &str) -> Option<&'static str> {
    if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// A port, 1–65535, digits only.
fn port(value: &str) -> Option<u16> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u16>().ok().filter(|p| *p > 0)
}

/// `host` without its `:port`.
fn without_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

/// A host as `Host` carries it: a DNS-style name (labels of letters, digits, `-`, `_`), an IPv4
/// address or a bracketed IPv6 address, with an optional `:port`.
pub fn valid_host(value: &str) -> bool {
    let (name, port_part) = if let Some(rest) = value.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(p) => return port(p).is_some(),
                None => return false,
            },
        }
    } else {
        match value.split_once(':') {
            Some((name, p)) => (name, Some(p)),
            None => (value, None),
        }
    };
    if port_part.is_some_and(|p| port(p).is_none()) {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    // All digits and dots reads as an IPv4 address, which must then be one.
    labels_ok && (!name.bytes().all(|b| b.is_ascii_digit() || b == b'.') || name.parse::<Ipv4Addr>().is_ok())
}

/// A path prefix: starts with `/`, only unreserved characters, `/`, sub-delimiters other than
/// quotes and parentheses, `:`, `@` and percent-escapes; no empty, `.` or `..` segments (escaped
/// or not). A trailing `/` is dropped; `/` alone is no prefix.
fn prefix(value: &str) -> Option<&str> {
    let value = value.strip_suffix('/').unwrap_or(value);
    if value.is_empty() {
        return Some("");
    }
    let rest = value.strip_prefix('/')?;
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let ok = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'!' | b'$' | b'&' | b'+' | b',' | b';' | b'=' | b':' | b'@')
            || (*b == b'%' && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if !ok {
            return None;
        }
    }
    let dot_segment = |segment: &str| {
        let undotted = segment.replace("%2e", ".").replace("%2E", ".");
        segment.is_empty() || undotted == "." || undotted == ".."
    };
    if rest.split('/').any(dot_segment) {
        return None;
    }
    Some(value)
}

/// One element of a `Forwarded` header: the parameters this server reads.
#[derive(Debug, Default, PartialEq, Eq)]
struct Element<'a> {
    for_: Option<Cow<'a, str>>,
    proto: Option<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
}

/// The element of the `Forwarded` chain written by the outermost trusted proxy (the direct peer
/// is trusted); `None` if a `Forwarded` header is malformed.
fn rfc7239<'a>(headers: &'a HeaderMap, trusted: &[Cidr]) -> Option<Element<'a>> {
    let mut elements = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        parse_forwarded(value.to_str().ok()?, &mut elements)?;
    }
    while elements.len() > 1 {
        let hop_trusted = elements.last().and_then(|e| e.for_.as_deref()).and_then(node_ip).is_some_and(|ip| is_trusted(trusted, ip));
        if !hop_trusted {
            break;
        }
        elements.pop();
    }
    elements.pop()
}

/// The address of a `Forwarded` node (`192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]:443`); `None`
/// for `unknown` and obfuscated names.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']').and_then(|(v6, _)| v6.parse::<Ipv6Addr>().ok()).map(IpAddr::V6);
    }
    let addr = node.split_once(':').map_or(node, |(a, _)| a);
    addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Parses one `Forwarded` header value (RFC 7239 §4: elements separated by `,`, pairs by `;`,
/// `name=token` or `name="quoted string"`, names case-insensitive) onto `out`.
fn parse_forwarded<'a>(value: &'a str, out: &mut Vec<Element<'a>>) -> Option<()> {
    let mut rest = value;
    let mut element = Element::default();
    let mut empty = true;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            break;
        }
        // Empty list members and pairs are allowed (`a, , b`; `a;;b`).
        if let Some(after) = rest.strip_prefix(',') {
            if !empty {
                out.push(std::mem::take(&mut element));
                empty = true;
            }
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix(';') {
            rest = after;
            continue;
        }
        let eq = rest.find('=')?;
        let name = &rest[..eq];
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return None;
        }
        rest = &rest[eq + 1..];
        let parsed: Cow<'a, str>;
        if let Some(quoted) = rest.strip_prefix('"') {
            let (text, after) = quoted_string(quoted)?;
            parsed = text;
            rest = after;
        } else {
            let end = rest.find(|c: char| !(c.is_ascii() && is_tchar(c as u8))).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            parsed = Cow::Borrowed(&rest[..end]);
            rest = &rest[end..];
        }
        let slot = if name.eq_ignore_ascii_case("for") {
            &mut element.for_
        } else if name.eq_ignore_ascii_case("proto") {
            &mut element.proto
        } else if name.eq_ignore_ascii_case("host") {
            &mut element.host
        } else {
            empty = false;
            continue;
        };
        // A parameter twice in one element is an error (RFC 7239 §4).
        if slot.is_some() {
            return None;
        }
        *slot = Some(parsed);
        empty = false;
        rest = rest.trim_start_matches([' ', '\t']);
        if !(rest.is_empty() || rest.starts_with([',', ';'])) {
            return None;
        }
    }
    if !empty {
        out.push(element);
    }
    Some(())
}

/// A `token` character (RFC 7230 §3.2.6).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The text of a quoted string whose opening quote is already read, and what follows its closing
/// quote; `\` escapes the next character.
fn quoted_string(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut owned: Option<String> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let text = match owned {
                    Some(text) => Cow::Owned(text),
                    None => Cow::Borrowed(&s[..i]),
                };
                return Some((text, &s[i + 1..]));
            }
            b'\\' => {
                let next = s[i + 1..].chars().next()?;
                owned.get_or_insert_with(|| s[..i].to_owned()).push(next);
                i += 1 + next.len_utf8();
            }
            _ => {
                let c = s[i..].chars().next()?;
                if let Some(text) = owned.as_mut() {
                    text.push(c);
                }
                i += c.len_utf8();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn url(pairs: &[(&str, &str)], peer: &str, trusted: &[Cidr]) -> String {
        base_url(&headers(pairs), ip(peer), trusted, "/soda")
    }

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.2".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.1.1".parse().unwrap()), "IPv4-mapped peers count as IPv4");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()) && !one.contains("192.0.2.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nowhere", "10.0.0/8", "::1/129", "10.0.0.1/+8", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(is_trusted(&Cidr::loopback(), "127.3.4.5".parse().unwrap()));
        assert!(is_trusted(&Cidr::loopback(), "::1".parse().unwrap()));
        assert!(!is_trusted(&Cidr::loopback(), "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn without_forwarding_the_host_header_is_used() {
        let lo = Cidr::loopback();
        assert_eq!(url(&[("host", "127.0.0.1:8080")], "127.0.0.1", &lo), "http://127.0.0.1:8080/soda");
        assert_eq!(url(&[("host", "bad host\"<x>")], "127.0.0.1", &lo), "http://localhost/soda", "a malformed Host is not echoed");
        assert_eq!(url(&[], "127.0.0.1", &lo), "http://localhost/soda");
        assert_eq!(base_url(&headers(&[("host", "a.org"), ("x-forwarded-host", "evil.example")]), None, &lo, ""), "http://a.org", "no peer: untrusted");
    }

    #[test]
    fn spoofed_headers_from_an_untrusted_peer_are_ignored() {
        let spoofed = [("host", "svc.example.org"), ("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "https"), ("x-forwarded-prefix", "/phish"), ("forwarded", "host=evil.example;proto=https")];
        assert_eq!(url(&spoofed, "203.0.113.9", &Cidr::loopback()), "http://svc.example.org/soda");
        assert_eq!(url(&spoofed, "127.0.0.1", &nets(&["10.0.0.1"])), "http://svc.example.org/soda", "an explicit list replaces loopback");
    }

    #[test]
    fn x_forwarded_headers_from_a_trusted_peer() {
        let lo = Cidr::loopback();
        let h = [("host", "127.0.0.1:8080"), ("x-forwarded-host", "archive.example.org"), ("x-forwarded-proto", "https"), ("x-forwarded-prefix", "/svc/cutouts/")];
        assert_eq!(url(&h, "127.0.0.1", &lo), "https://archive.example.org/svc/cutouts/soda");
        // Several values: the last, set by the proxy next to the server.
        let h = [("host", "x"), ("x-forwarded-host", "evil.example, archive.example.org"), ("x-forwarded-proto", "javascript"), ("x-forwarded-proto", "http , https")];
        assert_eq!(url(&h, "::1", &lo), "https://archive.example.org/soda");
        // A port: default ports are left out.
        let h = [("host", "x"), ("x-forwarded-host", "a.org:8443"), ("x-forwarded-proto", "https"), ("x-forwarded-port", "9443")];
        assert_eq!(url(&h, "127.0.0.1", &lo), "https://a.org:9443/soda");
        let h = [("host", "x"), ("x-forwarded-host", "a.org"), ("x-forwarded-proto", "https"), ("x-forwarded-port", "443")];
        assert_eq!(url(&h, "127.0.0.1", &lo), "https://a.org/soda");
        let h = [("host", "x:81"), ("x-forwarded-port", "8081")];
        assert_eq!(url(&h, "127.0.0.1", &lo), "http://x:8081/soda", "the port applies to Host too");
    }

    #[test]
    fn invalid_values_are_refused_not_echoed() {
        let lo = Cidr::loopback();
        let with = |name: &str, value: &str| url(&[("host", "svc.org"), (name, value)], "127.0.0.1", &lo);
        assert_eq!(with("x-forwarded-proto", "javascript"), "http://svc.org/soda");
        assert_eq!(with("x-forwarded-proto", "HTTPS"), "https://svc.org/soda");
        for prefix in ["/a/../b", "/..", "/a/%2e%2E/b", "/a/./b", "a/b", "/a b", "/a\"b", "/a<b", "//evil.example", "/a%zz", "/a?x=1", "/a#x"] {
            assert_eq!(with("x-forwarded-prefix", prefix), "http://svc.org/soda", "{prefix}");
        }
        assert_eq!(with("x-forwarded-prefix", "/"), "http://svc.org/soda");
        assert_eq!(with("x-forwarded-prefix", "/a/b-c_d~e/%41"), "http://svc.org/a/b-c_d~e/%41/soda");
        for host in ["evil.example/x", "evil.example@x", "-a.org", "a..org", "a.org:0", "a.org:65536", "a.org:", "[::1", "[zz::1]", "1.2.3.999", "a.org:+80", "a.org:8080:1"] {
            assert_eq!(with("x-forwarded-host", host), "http://svc.org/soda", "{host}");
        }
        for (host, expected) in [("[2001:db8::1]:8443", "http://[2001:db8::1]:8443/soda"), ("[::1]", "http://[::1]/soda"), ("192.0.2.1:81", "http://192.0.2.1:81/soda"), ("Data.Example.org.", "http://Data.Example.org./soda")] {
            assert_eq!(with("x-forwarded-host", host), expected);
        }
        for port in ["0", "65536", "-1", "80a", ""] {
            assert_eq!(with("x-forwarded-port", port), "http://svc.org/soda", "{port}");
        }
    }

    #[test]
    fn forwarded_header_parsing() {
        let lo = Cidr::loopback();
        let f = |value: &str| url(&[("host", "svc.org"), ("forwarded", value)], "127.0.0.1", &lo);
        assert_eq!(f("for=192.0.2.60;proto=https;host=archive.example.org"), "https://archive.example.org/soda");
        assert_eq!(f("For=\"192.0.2.60\"; Proto=HTTPS; HOST=\"archive.example.org:8443\""), "https://archive.example.org:8443/soda", "names any case, quoted values");
        assert_eq!(f("for=\"[2001:db8:cafe::17]:4711\";host=\"[2001:db8::2]\";proto=https"), "https://[2001:db8::2]/soda");
        assert_eq!(f("host=\"a.org\\\"x\""), "http://svc.org/soda", "an escaped quote makes a bad host");
        assert_eq!(f("host=\"a\\.org\""), "http://a.org/soda", "escapes are unescaped");
        assert_eq!(f("proto=javascript;host=a.org"), "http://a.org/soda");
        assert_eq!(f("by=\"x;y,z\";host=a.org"), "http://a.org/soda", "separators inside quotes");
        for broken in ["host=a.org;host=b.org", "host=\"a.org", "host", "=a.org", "host=a.org junk", "host=\"a.org\"x"] {
            assert_eq!(f(broken), "http://svc.org/soda", "{broken}");
        }
        // Forwarded wins: X-Forwarded-Host/-Proto are not read beside it, X-Forwarded-Prefix is.
        let h = [("host", "svc.org"), ("forwarded", "for=192.0.2.1;proto=https"), ("x-forwarded-host", "evil.example"), ("x-forwarded-proto", "http"), ("x-forwarded-prefix", "/p")];
        assert_eq!(url(&h, "127.0.0.1", &lo), "https://svc.org/p/soda");
    }

    #[test]
    fn forwarded_chains_stop_at_the_first_untrusted_hop() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        // client 203.0.113.1 -> proxy 10.1.1.1 (writes the first element) -> proxy 127.0.0.1 -> server.
        let chain = "for=203.0.113.1;host=outer.example.org;proto=https, for=10.1.1.1;host=inner.internal;proto=http";
        assert_eq!(url(&[("host", "svc"), ("forwarded", chain)], "127.0.0.1", &trusted), "https://outer.example.org/soda");
        // A client forging an element before the trusted proxies: the walk stops at the real client.
        let forged = "for=10.9.9.9;host=evil.example;proto=https, for=203.0.113.1;host=outer.example.org;proto=https, for=10.1.1.1;host=inner.internal";
        assert_eq!(url(&[("host", "svc"), ("forwarded", forged)], "127.0.0.1", &trusted), "https://outer.example.org/soda");
        // The middle proxy is not trusted: the nearest element is used.
        assert_eq!(url(&[("host", "svc"), ("forwarded", chain)], "127.0.0.1", &nets(&["127.0.0.1"])), "http://inner.internal/soda");
        // Two header lines form one list; `unknown` and obfuscated nodes end the walk.
        let h = [("host", "svc"), ("forwarded", "for=10.2.2.2;host=a.org"), ("forwarded", "for=10.1.1.1;host=b.org")];
        assert_eq!(url(&h, "127.0.0.1", &trusted), "http://a.org/soda");
        let h = [("host", "svc"), ("forwarded", "host=a.org, for=unknown;host=b.org")];
        assert_eq!(url(&h, "127.0.0.1", &trusted), "http://b.org/soda");
        let h = [("host", "svc"), ("forwarded", "host=a.org, for=\"[::1]:80\";host=b.org")];
        assert_eq!(url(&h, "127.0.0.1", &nets(&["127.0.0.1", "::1"])), "http://a.org/soda", "an IPv6 hop");
    }

    #[test]
    fn the_client_address_is_the_first_untrusted_hop() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let client_of = |pairs: &[(&str, &str)], peer: &str| client(&headers(pairs), peer.parse().unwrap(), &trusted).to_string();
        // An untrusted peer is the client, whatever it says.
        assert_eq!(client_of(&[("x-forwarded-for", "198.51.100.7")], "192.0.2.1"), "192.0.2.1");
        assert_eq!(client_of(&[("forwarded", "for=198.51.100.7")], "192.0.2.1"), "192.0.2.1");
        // A trusted peer: the chain walked back past trusted proxies; a forged head is not reached.
        assert_eq!(client_of(&[("x-forwarded-for", "10.9.9.9, 203.0.113.1, 10.1.1.1")], "127.0.0.1"), "203.0.113.1");
        assert_eq!(client_of(&[("x-forwarded-for", "10.9.9.9, 203.0.113.1"), ("x-forwarded-for", "10.1.1.1")], "127.0.0.1"), "203.0.113.1", "repeated headers, in order");
        assert_eq!(client_of(&[("x-forwarded-for", "2001:db8::7")], "127.0.0.1"), "2001:db8::7");
        assert_eq!(client_of(&[("x-forwarded-for", "[2001:db8::7]:4711")], "127.0.0.1"), "2001:db8::7");
        assert_eq!(client_of(&[("x-forwarded-for", "203.0.113.1:4711")], "127.0.0.1"), "203.0.113.1");
        let chain = "for=10.9.9.9, for=203.0.113.1;proto=https, for=10.1.1.1";
        assert_eq!(client_of(&[("forwarded", chain), ("x-forwarded-for", "198.51.100.1")], "127.0.0.1"), "203.0.113.1", "Forwarded wins");
        assert_eq!(client_of(&[("forwarded", "for=\"[2001:db8:cafe::17]:4711\"")], "127.0.0.1"), "2001:db8:cafe::17");
        // Nothing usable: the last trusted hop stands for the client.
        assert_eq!(client_of(&[], "127.0.0.1"), "127.0.0.1");
        assert_eq!(client_of(&[("x-forwarded-for", "10.1.1.1")], "127.0.0.1"), "10.1.1.1", "only proxies");
        assert_eq!(client_of(&[("x-forwarded-for", "junk, 10.1.1.1")], "127.0.0.1"), "10.1.1.1");
        assert_eq!(client_of(&[("forwarded", "for=unknown, for=10.1.1.1")], "127.0.0.1"), "10.1.1.1");
        assert_eq!(client_of(&[("forwarded", "for=_hidden")], "127.0.0.1"), "127.0.0.1");
        assert_eq!(client_of(&[("forwarded", "for=203.0.113.1;for=198.51.100.1")], "127.0.0.1"), "127.0.0.1", "malformed");
    }
}
