//! Connection URLs are printed for humans; passwords never are.

/// Replace the password of a `postgres://user:pass@host/db` URL with `***`.
///
/// Strings that do not parse as URLs are returned with anything between `:` and `@` of the
/// authority masked, so even a malformed URL does not leak its secret.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                // set_password only fails for URLs that cannot have one, which we checked above
                let _ = u.set_password(Some("***"));
            }
            let mut out = u.to_string();
            // query parameters may carry a password too (libpq accepts ?password=)
            if let Some(q) = u.query() {
                if q.contains("password=") {
                    let masked: Vec<String> = u
                        .query_pairs()
                        .map(|(k, v)| {
                            if k == "password" {
                                format!("{k}=***")
                            } else {
                                format!("{k}={v}")
                            }
                        })
                        .collect();
                    let base = out.split('?').next().unwrap_or_default().to_string();
                    out = format!("{base}?{}", masked.join("&"));
                }
            }
            out
        }
        Err(_) => mask_authority(raw),
    }
}

fn mask_authority(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_string();
    };
    let rest = &raw[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return raw.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &raw[..scheme_end + 3],
            &userinfo[..colon],
            &rest[at..]
        ),
        None => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn password_in_authority_is_masked() {
        let r = redact_url("postgres://alice:s3cret@db.example:5432/app");
        assert_eq!(r, "postgres://alice:***@db.example:5432/app");
        assert!(!r.contains("s3cret"));
    }

    #[test]
    fn password_in_query_is_masked() {
        let r = redact_url("postgres://alice@h/app?sslmode=disable&password=s3cret");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(r.contains("password=***"));
        assert!(r.contains("sslmode=disable"));
    }

    #[test]
    fn url_without_password_is_unchanged() {
        let raw = "postgres://alice@localhost:5432/app";
        assert_eq!(redact_url(raw), raw);
    }

    #[test]
    fn malformed_url_still_masks() {
        let r = redact_url("postgres://bob:hunter2@[bad/db");
        assert!(!r.contains("hunter2"), "{r}");
    }
}
