//! `X-Twilio-Signature`: computing it and checking a request against it.
//!
//! Twilio signs the URL it requested, exactly as written (scheme, host case, userinfo, port, path,
//! whole query string), followed by every form parameter: names in byte-wise order
//! (case-sensitive), and for each name its values sorted and de-duplicated, each appended as
//! name + value with no separator. The MAC is HMAC-SHA1 keyed with the account's auth token, sent
//! as standard base64 with padding.
//!
//! [`validate`] must see every parameter that arrived, including ones this crate does not know:
//! Twilio adds parameters without notice, and dropping one breaks the signature. It also tries the
//! URL with its port removed and with the scheme's default port added, as Twilio's helper
//! libraries do, because proxies and load balancers disagree about ports.
//!
//! Nothing here logs, and [`SignatureError`] never carries the token or either signature, so it is
//! safe to log. Any password in the URL is masked in the list of URLs tried.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::{Choice, ConstantTimeEq};

/// The header Twilio puts the signature in.
pub const HEADER: &str = "X-Twilio-Signature";

type HmacSha1 = Hmac<Sha1>;

/// Why a request's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Twilio-Signature` header, or an empty one.
    #[error("the request has no X-Twilio-Signature header")]
    Missing,
    /// The header matched none of the URL variants.
    #[error(
        "X-Twilio-Signature does not match the request signed for any of: {}",
        tried.join(", ")
    )]
    Mismatch {
        /// The URL variants the signature was checked against, in the order tried, so that an
        /// operator can see which public URL the gateway assumed. A password in the URL's userinfo
        /// is replaced by `***`.
        tried: Vec<String>,
    },
}

/// Computes the `X-Twilio-Signature` Twilio would send for a request to `url` with the form
/// parameters `params` (form-decoded, in any order, repeated names allowed).
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    sign(auth_token, url, &signed_parameters(params))
}

/// Checks `header`, the value of `X-Twilio-Signature`, for a request to `url` carrying `params`.
///
/// `url` is the URL Twilio requested, rebuilt from the gateway's public base URL and the request's
/// path and query. The signature is accepted if it matches that URL as given, the URL with its port
/// removed (when it has one), or the URL with the default port for its scheme added (443 for
/// `https`, 80 for `http`; when it has none). Every variant is computed and compared in constant
/// time, so the time taken does not say which variant came close.
///
/// An empty auth token never validates: anyone could sign with it.
pub fn validate(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = match header.map(str::trim) {
        Some(value) if !value.is_empty() => value,
        _ => return Err(SignatureError::Missing),
    };

    let candidates = url_variants(url);
    let payload = signed_parameters(params);
    let mut matched = Choice::from(0);
    for candidate in &candidates {
        let expected = sign(auth_token, candidate, &payload);
        matched |= expected.as_bytes().ct_eq(header.as_bytes());
    }

    if bool::from(matched) && !auth_token.is_empty() {
        Ok(())
    } else {
        Err(SignatureError::Mismatch {
            tried: candidates.iter().map(|u| mask_password(u)).collect(),
        })
    }
}

/// The parameters as Twilio appends them: sorted by name then value, byte-wise, duplicates of the
/// same name and value once only.
fn signed_parameters(params: &[(String, String)]) -> Vec<u8> {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    // `str` orders by bytes, which is what Twilio's libraries do (UTF-8 byte order and code point
    // order agree).
    pairs.sort_unstable();
    pairs.dedup();

    let mut payload = Vec::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len()).sum());
    for (name, value) in pairs {
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(value.as_bytes());
    }
    payload
}

fn sign(auth_token: &str, url: &str, payload: &[u8]) -> String {
    let mut mac =
        HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    mac.update(payload);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The URLs to try, without repeats: as given; then without its port if it has one, or with the
/// scheme's default port if it has none.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    if let Some(parts) = UrlParts::split(url) {
        let other = match parts.port {
            Some(_) => Some(parts.with_port(None)),
            None => parts.default_port().map(|port| parts.with_port(Some(port))),
        };
        if let Some(other) = other
            && other != url
        {
            variants.push(other);
        }
    }
    variants
}

/// Replaces a password in the URL's userinfo with `***`, for error messages and logs.
fn mask_password(url: &str) -> String {
    match UrlParts::split(url) {
        Some(parts) => match parts.userinfo.and_then(|u| u.split_once(':')) {
            Some((user, _password)) => format!(
                "{}://{}:***@{}{}",
                parts.scheme,
                user,
                parts.host_and_port(),
                parts.rest
            ),
            None => url.to_owned(),
        },
        // Not a URL we understand: keep nothing that could be a credential.
        None => match url.split_once('@') {
            Some(_) => "(unparsable URL containing '@')".to_owned(),
            None => url.to_owned(),
        },
    }
}

/// A URL cut at its authority, by hand, because the `url` crate normalises what it parses (it
/// drops default ports, lowercases hosts, re-encodes queries) and the signature needs the bytes
/// exactly as written.
#[derive(Debug)]
struct UrlParts<'a> {
    /// Before `://`.
    scheme: &'a str,
    /// Between `://` and the last `@` of the authority, if there is one.
    userinfo: Option<&'a str>,
    /// The host, brackets included for IPv6.
    host: &'a str,
    /// The digits after the host's `:` (possibly none, for `host:`), if there is a colon.
    port: Option<&'a str>,
    /// Everything from the first `/`, `?` or `#` after the authority.
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Option<UrlParts<'a>> {
        let (scheme, after) = url.split_once("://")?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return None;
        }
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(authority_end);
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (host, port) = if host_port.starts_with('[') {
            let close = host_port.find(']')?;
            let (host, after_host) = host_port.split_at(close + 1);
            match after_host {
                "" => (host, None),
                _ => (host, Some(after_host.strip_prefix(':')?)),
            }
        } else {
            match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() || port.is_some_and(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        Some(UrlParts {
            scheme,
            userinfo,
            host,
            port,
            rest,
        })
    }

    fn default_port(&self) -> Option<&'static str> {
        if self.scheme.eq_ignore_ascii_case("https") {
            Some("443")
        } else if self.scheme.eq_ignore_ascii_case("http") {
            Some("80")
        } else {
            None
        }
    }

    fn host_and_port(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{}", self.host, port),
            None => self.host.to_owned(),
        }
    }

    /// The same URL, byte for byte, with `port` in place of the original one.
    fn with_port(&self, port: Option<&str>) -> String {
        let userinfo = self.userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{}://{}{}{}{}",
            self.scheme, userinfo, self.host, port, self.rest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn twilio_docs_params() -> Vec<(String, String)> {
        form(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    const DOCS_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    /// From Twilio's security documentation and helper-library tests; reproduced with Python's
    /// `hmac` module, not with this code.
    const DOCS_SIGNATURE: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    #[test]
    fn the_public_check_vector_from_twilio_is_reproduced() {
        assert_eq!(
            compute("12345", DOCS_URL, &twilio_docs_params()),
            DOCS_SIGNATURE
        );
        assert_eq!(
            validate(
                "12345",
                DOCS_URL,
                &twilio_docs_params(),
                Some(DOCS_SIGNATURE)
            ),
            Ok(())
        );
    }

    #[test]
    fn the_order_parameters_arrive_in_does_not_matter() {
        let mut params = twilio_docs_params();
        params.reverse();
        params.swap(0, 2);
        assert_eq!(compute("12345", DOCS_URL, &params), DOCS_SIGNATURE);
    }

    #[test]
    fn a_repeated_parameter_name_is_signed_with_every_value_sorted_and_once() {
        // Expected value computed with Python's hmac over
        // "https://example.com/sms" + "From+14158675309" + "Taga" + "Tagb".
        let params = form(&[
            ("Tag", "b"),
            ("Tag", "a"),
            ("Tag", "b"),
            ("From", "+14158675309"),
        ]);
        assert_eq!(
            compute("12345", "https://example.com/sms", &params),
            "yb2tCxDMgJDfkpcTH/rh3katabk="
        );
    }

    #[test]
    fn a_repeated_identical_pair_signs_like_a_single_one() {
        let once = form(&[("Body", "hi"), ("To", "+18005551212")]);
        let twice = form(&[("Body", "hi"), ("To", "+18005551212"), ("Body", "hi")]);
        assert_eq!(
            compute("t", "https://example.com/sms", &once),
            compute("t", "https://example.com/sms", &twice)
        );
    }

    #[test]
    fn parameter_names_sort_byte_wise_with_capitals_first() {
        // Python: "https://example.com/sms" + "B2" + "a1" + "b3".
        let params = form(&[("a", "1"), ("B", "2"), ("b", "3")]);
        assert_eq!(
            compute("12345", "https://example.com/sms", &params),
            "Jdh/YpMlnzXRiwJIkUSoAu97q60="
        );
    }

    #[test]
    fn non_ascii_names_and_values_are_signed_as_utf8() {
        // Python: "https://example.com/sms" + "Bodyhéllo ✓" + "Bodyzebra" + "Bödyx".
        let params = form(&[("Body", "héllo ✓"), ("Body", "zebra"), ("Bödy", "x")]);
        assert_eq!(
            compute("12345", "https://example.com/sms", &params),
            "pAfI3WNaONr4wH+/LW5+xPUvWK0="
        );
    }

    #[test]
    fn a_signature_for_the_url_without_its_port_validates_when_the_port_is_present() {
        let params = twilio_docs_params();
        let signed = compute("12345", "https://example.com/sms?x=1", &params);
        for seen in [
            "https://example.com:443/sms?x=1",
            "https://example.com:8443/sms?x=1",
        ] {
            assert_eq!(
                validate("12345", seen, &params, Some(&signed)),
                Ok(()),
                "{seen}"
            );
        }
    }

    #[test]
    fn a_signature_for_the_url_with_the_default_port_validates_when_the_port_is_absent() {
        let params = twilio_docs_params();
        for (signed_for, seen) in [
            ("https://example.com:443/sms", "https://example.com/sms"),
            ("http://example.com:80/sms", "http://example.com/sms"),
            ("https://example.com:443", "https://example.com"),
            ("https://[2001:db8::1]:443/sms", "https://[2001:db8::1]/sms"),
        ] {
            let signed = compute("12345", signed_for, &params);
            assert_eq!(
                validate("12345", seen, &params, Some(&signed)),
                Ok(()),
                "{seen}"
            );
        }
    }

    #[test]
    fn a_non_default_port_is_never_invented() {
        let params = twilio_docs_params();
        let signed = compute("12345", "https://example.com:8443/sms", &params);
        assert!(validate("12345", "https://example.com/sms", &params, Some(&signed)).is_err());
        let signed = compute("12345", "http://example.com:443/sms", &params);
        assert!(validate("12345", "http://example.com/sms", &params, Some(&signed)).is_err());
    }

    #[test]
    fn a_mismatch_lists_the_url_variants_tried() {
        let err = validate(
            "12345",
            "https://example.com/sms?a=1",
            &[],
            Some("bm9wZQ=="),
        )
        .unwrap_err();
        assert_eq!(
            err,
            SignatureError::Mismatch {
                tried: vec![
                    "https://example.com/sms?a=1".to_owned(),
                    "https://example.com:443/sms?a=1".to_owned(),
                ]
            }
        );
        let err = validate("12345", "http://example.com:8080", &[], Some("bm9wZQ==")).unwrap_err();
        assert_eq!(
            err,
            SignatureError::Mismatch {
                tried: vec![
                    "http://example.com:8080".to_owned(),
                    "http://example.com".to_owned(),
                ]
            }
        );
    }

    #[test]
    fn a_mismatch_never_shows_the_token_the_signature_or_a_url_password() {
        let token = "s3cr3t-auth-token";
        let url = "https://twilio:hunter2@example.com/sms";
        let params = twilio_docs_params();
        let good = compute(token, url, &params);
        let err = validate(token, url, &form(&[("To", "+1")]), Some(&good)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(token), "{shown}");
        assert!(!shown.contains(&good), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("https://twilio:***@example.com:443/sms"),
            "{shown}"
        );
    }

    #[test]
    fn userinfo_is_part_of_what_twilio_signs() {
        let params = twilio_docs_params();
        let url = "https://user:pass@example.com/sms";
        let signed = compute("12345", url, &params);
        assert_eq!(validate("12345", url, &params, Some(&signed)), Ok(()));
        assert!(validate("12345", "https://example.com/sms", &params, Some(&signed)).is_err());
        let with_port = compute("12345", "https://user:pass@example.com:443/sms", &params);
        assert_eq!(validate("12345", url, &params, Some(&with_port)), Ok(()));
    }

    #[test]
    fn an_at_sign_or_colon_in_the_query_does_not_move_the_host() {
        let params = twilio_docs_params();
        let url = "https://example.com/sms?Caller=sip:1234@10.0.0.1:5060";
        assert_eq!(
            url_variants(url),
            vec![
                url.to_owned(),
                "https://example.com:443/sms?Caller=sip:1234@10.0.0.1:5060".to_owned()
            ]
        );
        let signed = compute("12345", url, &params);
        assert_eq!(validate("12345", url, &params, Some(&signed)), Ok(()));
    }

    #[test]
    fn the_url_is_signed_exactly_as_written() {
        let params = twilio_docs_params();
        let signed = compute("12345", DOCS_URL, &params);
        for other in [
            "https://MyCompany.com/myapp.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php?bar=2&foo=1",
            "https://mycompany.com/myapp.php/?foo=1&bar=2",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php?foo=1&bar=%32",
        ] {
            assert!(
                validate("12345", other, &params, Some(&signed)).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn a_changed_parameter_fails() {
        let mut params = twilio_docs_params();
        params[3].1 = "+14158675300".to_owned();
        assert!(matches!(
            validate("12345", DOCS_URL, &params, Some(DOCS_SIGNATURE)),
            Err(SignatureError::Mismatch { .. })
        ));
    }

    #[test]
    fn an_added_or_removed_parameter_fails() {
        let mut added = twilio_docs_params();
        added.push(("Extra".to_owned(), String::new()));
        assert!(validate("12345", DOCS_URL, &added, Some(DOCS_SIGNATURE)).is_err());
        let mut removed = twilio_docs_params();
        removed.pop();
        assert!(validate("12345", DOCS_URL, &removed, Some(DOCS_SIGNATURE)).is_err());
    }

    #[test]
    fn a_value_moved_to_another_name_fails() {
        let params = form(&[("ab", "c")]);
        let moved = form(&[("a", "bc")]);
        // Both concatenate to "abc": Twilio's scheme cannot tell them apart, and neither can we.
        assert_eq!(
            compute("k", "https://x.test/", &params),
            compute("k", "https://x.test/", &moved)
        );
        let other = form(&[("ab", "d")]);
        assert_ne!(
            compute("k", "https://x.test/", &params),
            compute("k", "https://x.test/", &other)
        );
    }

    #[test]
    fn a_wrong_token_fails() {
        assert!(
            validate(
                "54321",
                DOCS_URL,
                &twilio_docs_params(),
                Some(DOCS_SIGNATURE)
            )
            .is_err()
        );
    }

    #[test]
    fn a_missing_or_empty_header_fails_as_missing() {
        let params = twilio_docs_params();
        assert_eq!(
            validate("12345", DOCS_URL, &params, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            validate("12345", DOCS_URL, &params, Some("")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            validate("12345", DOCS_URL, &params, Some("  ")),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn an_empty_auth_token_never_validates() {
        let params = twilio_docs_params();
        let signed = compute("", DOCS_URL, &params);
        assert!(matches!(
            validate("", DOCS_URL, &params, Some(&signed)),
            Err(SignatureError::Mismatch { .. })
        ));
    }

    #[test]
    fn a_signature_differing_only_in_case_or_padding_fails() {
        let params = twilio_docs_params();
        let lower = DOCS_SIGNATURE.to_lowercase();
        let unpadded = DOCS_SIGNATURE.trim_end_matches('=');
        assert!(validate("12345", DOCS_URL, &params, Some(&lower)).is_err());
        assert!(validate("12345", DOCS_URL, &params, Some(unpadded)).is_err());
    }

    #[test]
    fn urls_that_cannot_be_split_are_tried_only_as_given() {
        for url in [
            "",
            "example.com/sms",
            "https://",
            "https://host:abc/",
            "1http://x/",
        ] {
            assert_eq!(url_variants(url), vec![url.to_owned()], "{url:?}");
        }
    }

    /// Any http(s) URL with optional userinfo and port and a path and query that may contain
    /// `@`, `:` and encoded characters.
    fn any_url() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["https", "http", "HTTPS"]),
            prop::option::of("[a-z]{1,6}(:[a-z0-9]{1,6})?@"),
            "[a-z0-9.-]{1,20}|\\[[0-9a-f:]{2,20}\\]",
            prop::option::of(prop::sample::select(vec!["80", "443", "8080", ""])),
            "(/[a-zA-Z0-9._~%:@-]{0,12}){0,3}",
            prop::option::of("[a-zA-Z0-9=&%+:@/?'-]{0,30}"),
        )
            .prop_map(|(scheme, userinfo, host, port, path, query)| {
                let mut url = format!("{scheme}://{}{host}", userinfo.unwrap_or_default());
                if let Some(port) = port {
                    url.push(':');
                    url.push_str(port);
                }
                url.push_str(&path);
                if let Some(query) = query {
                    url.push('?');
                    url.push_str(&query);
                }
                url
            })
    }

    fn any_params() -> impl Strategy<Value = Vec<(String, String)>> {
        prop::collection::vec(("\\PC{0,12}", "\\PC{0,40}"), 0..12)
    }

    proptest! {
        #[test]
        fn compute_then_validate_succeeds_for_any_params_and_url(
            token in "[ -~]{1,40}",
            url in any_url(),
            params in any_params(),
        ) {
            let signed = compute(&token, &url, &params);
            prop_assert_eq!(validate(&token, &url, &params, Some(&signed)), Ok(()));
        }

        #[test]
        fn changing_one_byte_of_a_value_fails(
            url in any_url(),
            // Distinct names, so that the change cannot be hidden by de-duplication.
            map in prop::collection::btree_map("[A-Za-z0-9]{1,10}", "[ -~]{1,40}", 1..10),
            pick in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            replacement in 0x20u8..0x7f,
        ) {
            let mut params: Vec<(String, String)> = map.into_iter().collect();
            let signed = compute("token", &url, &params);

            let i = pick.index(params.len());
            let mut bytes = params[i].1.clone().into_bytes();
            let j = at.index(bytes.len());
            prop_assume!(bytes[j] != replacement);
            bytes[j] = replacement;
            params[i].1 = String::from_utf8(bytes).unwrap();

            let result = validate("token", &url, &params, Some(&signed));
            prop_assert!(
                matches!(result, Err(SignatureError::Mismatch { .. })),
                "validated after a change: {:?}",
                result
            );
        }

        #[test]
        fn splitting_a_url_and_putting_it_back_changes_nothing(url in any_url()) {
            let parts = UrlParts::split(&url).expect("generated URLs split");
            prop_assert_eq!(parts.with_port(parts.port), url);
        }

        #[test]
        fn validating_arbitrary_input_never_panics(
            url in "\\PC{0,60}",
            params in any_params(),
            header in prop::option::of("\\PC{0,40}"),
        ) {
            let _ = validate("token", &url, &params, header.as_deref());
            let _ = mask_password(&url);
        }
    }
}
