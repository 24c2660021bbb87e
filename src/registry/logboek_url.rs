//! A partner's Logboek Dataverwerkingen read API: the `https://` URL where the partner
//! answers for its own processing, so that an officer following a delivery can go on to the
//! receiving organisation's log. Checked wherever it enters the registry (`partners.toml`,
//! `AdminService`, the database) so that nothing but a plain `https://` URL is ever shown.

/// Longest URL accepted; a register's address is far shorter.
const MAX_LEN: usize = 2000;

/// Why a text is not a usable Logboek read API URL. Messages say what to fix and never
/// repeat the text, which may hold a secret (a password or token pasted by mistake).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvalidLogboekUrl {
    /// Not a URL at all, or longer than [`MAX_LEN`].
    #[error("logboek_url is not a URL: give one like https://logboek.example.nl/v1")]
    Malformed,
    /// Another scheme than https, or no host.
    #[error("logboek_url must be an https:// URL with a host name")]
    NotHttps,
    /// A user name or password in the URL.
    #[error(
        "logboek_url must not carry a user name or password (user@host): the partner's read API authenticates its callers itself"
    )]
    UserInfo,
    /// A query or fragment, where tokens and keys tend to hide.
    #[error("logboek_url must not carry a query (?…) or fragment (#…): give the API's base URL")]
    QueryOrFragment,
}

/// Checks `text` as a partner's Logboek read API URL: `https://`, a host, no user info, no
/// query and no fragment.
pub fn check_logboek_url(text: &str) -> Result<(), InvalidLogboekUrl> {
    if text.len() > MAX_LEN {
        return Err(InvalidLogboekUrl::Malformed);
    }
    if text.contains(['?', '#']) {
        return Err(InvalidLogboekUrl::QueryOrFragment);
    }
    let uri: http::Uri = text.parse().map_err(|_| InvalidLogboekUrl::Malformed)?;
    let Some(authority) = uri.authority() else {
        return Err(InvalidLogboekUrl::NotHttps);
    };
    if authority.as_str().contains('@') {
        return Err(InvalidLogboekUrl::UserInfo);
    }
    if uri.scheme_str() != Some("https") || authority.host().is_empty() {
        return Err(InvalidLogboekUrl::NotHttps);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_https_urls_pass() {
        assert_eq!(
            check_logboek_url("https://logboek.dtv.example.invalid/v1"),
            Ok(())
        );
        assert_eq!(
            check_logboek_url("https://ldv.example.invalid:8443"),
            Ok(())
        );
        let refused = [
            (
                "http://logboek.example.invalid/v1",
                InvalidLogboekUrl::NotHttps,
            ),
            ("ftp://logboek.example.invalid", InvalidLogboekUrl::NotHttps),
            ("/relative/path", InvalidLogboekUrl::NotHttps),
            (
                "https://user:secret@logboek.example.invalid",
                InvalidLogboekUrl::UserInfo,
            ),
            (
                "https://logboek.example.invalid/?token=secret",
                InvalidLogboekUrl::QueryOrFragment,
            ),
            (
                "https://logboek.example.invalid/#secret",
                InvalidLogboekUrl::QueryOrFragment,
            ),
            ("https://logboek example", InvalidLogboekUrl::Malformed),
            ("", InvalidLogboekUrl::Malformed),
        ];
        for (text, why) in refused {
            let e = check_logboek_url(text).unwrap_err();
            assert_eq!(e, why, "{text}");
            assert!(!e.to_string().contains("secret"));
        }
        let long = format!("https://example.invalid/{}", "a".repeat(MAX_LEN));
        assert_eq!(check_logboek_url(&long), Err(InvalidLogboekUrl::Malformed));
    }
}
