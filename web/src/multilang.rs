//! Moodle "multilang" names (`<span lang="en" class="multilang">…</span>` and
//! `{mlang en}…{mlang}`), parsed into plain text for one language. Never rendered as HTML.

/// The text of `raw` for `lang`: the matching multilang part, else the first part, else the
/// raw text with any markup-looking characters left as they are (the UI renders text nodes).
pub fn text_for(raw: &str, lang: &str) -> String {
    let parts = parts(raw);
    if parts.is_empty() {
        return raw.to_string();
    }
    parts
        .iter()
        .find(|(l, _)| l == lang)
        .or_else(|| parts.first())
        .map(|(_, t)| t.clone())
        .unwrap_or_default()
}

/// The languages and texts of a multilang string, in order; empty when it has none.
pub fn parts(raw: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // {mlang xx}text{mlang}
    let mut rest = raw;
    while let Some(start) = rest.find("{mlang ") {
        let after = rest.get(start + 7..).unwrap_or("");
        let Some(close) = after.find('}') else { break };
        let lang = after.get(..close).unwrap_or("").trim().to_string();
        let body = after.get(close + 1..).unwrap_or("");
        let Some(end) = body.find("{mlang}") else {
            break;
        };
        out.push((lang, body.get(..end).unwrap_or("").to_string()));
        rest = body.get(end + 7..).unwrap_or("");
    }
    if !out.is_empty() {
        return out;
    }
    // <span lang="xx" class="multilang">text</span>
    let mut rest = raw;
    while let Some(start) = rest.find("<span") {
        let tag_and_more = rest.get(start..).unwrap_or("");
        let Some(tag_end) = tag_and_more.find('>') else {
            break;
        };
        let tag = tag_and_more.get(..tag_end).unwrap_or("");
        let body = tag_and_more.get(tag_end + 1..).unwrap_or("");
        let Some(end) = body.find("</span>") else {
            break;
        };
        if let Some(lang) = attr(tag, "lang").filter(|_| tag.contains("multilang")) {
            out.push((lang, body.get(..end).unwrap_or("").to_string()));
        }
        rest = body.get(end + 7..).unwrap_or("");
    }
    out
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    let at = tag.find(&key)?;
    let v = tag.get(at + key.len()..)?;
    let quote = v.chars().next()?;
    if quote == '"' || quote == '\'' {
        let inner = v.get(1..)?;
        let end = inner.find(quote)?;
        inner.get(..end).map(str::to_string)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_syntax() {
        let raw = r#"<span lang="en" class="multilang">Teacher</span><span lang="fr" class="multilang">Enseignant</span>"#;
        assert_eq!(text_for(raw, "fr"), "Enseignant");
        assert_eq!(text_for(raw, "de"), "Teacher");
    }

    #[test]
    fn mlang_syntax() {
        assert_eq!(
            text_for("{mlang en}Dean{mlang}{mlang de}Dekan{mlang}", "de"),
            "Dekan"
        );
    }

    #[test]
    fn plain_and_hostile_text_stay_text() {
        assert_eq!(
            text_for("<img src=x onerror=alert(1)>", "en"),
            "<img src=x onerror=alert(1)>"
        );
        assert_eq!(text_for("Manager", "en"), "Manager");
    }
}
