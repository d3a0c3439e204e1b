//! XML (VOEvent): the text of every element and the `value` of every
//! `Param`, in document order. A tokenizer (xmlparser), not a tree: no
//! recursion, nothing held but the current token. Only the five
//! predefined entities and character references are expanded, so a DTD
//! cannot make the text grow.

use super::{Chunks, Unreadable};
use std::borrow::Cow;
use xmlparser::{Token, Tokenizer};

pub(super) fn extract(payload: &[u8], chunks: &mut Chunks) -> Result<(), Unreadable> {
    let text = std::str::from_utf8(payload).map_err(|e| Unreadable(format!("XML is not UTF-8: {e}")))?;
    let mut in_param = false;
    for token in Tokenizer::from(text) {
        if chunks.is_full() {
            return Ok(());
        }
        match token.map_err(|e| Unreadable(format!("XML: {e}")))? {
            Token::ElementStart { local, .. } => in_param = local.as_str() == "Param",
            Token::Attribute { local, value, .. } if in_param && local.as_str() == "value" => {
                chunks.push_text(&unescape(value.as_str()));
            }
            Token::Text { text } | Token::Cdata { text, .. } => {
                let text = unescape(text.as_str());
                let trimmed = text.trim();
                if !trimmed.is_empty() {
                    chunks.push_text(trimmed);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `text` with `&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;` and `&#…;`
/// replaced; any other reference is kept as written.
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let expanded = rest.find(';').filter(|&end| end <= 12).and_then(|end| Some((entity(&rest[1..end])?, end)));
        match expanded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Chunks;

    fn text(xml: &str) -> Result<String, String> {
        let mut chunks = Chunks::new(1000);
        super::extract(xml.as_bytes(), &mut chunks).map_err(|e| e.0)?;
        Ok(chunks.text)
    }

    #[test]
    fn element_text_and_param_values() {
        let xml = r#"<?xml version='1.0'?><voe:VOEvent ivorn="ivo://x" role="observation">
            <What><Param name="TrigID" value="1234567" ucd="meta.id"/><Group name="g"><Param name="n" value="a &amp; b"/></Group></What>
            <Description>GRB &lt;bright&gt; &#233;t&#xe9;<![CDATA[raw <text>]]></Description></voe:VOEvent>"#;
        assert_eq!(text(xml).as_deref(), Ok("1234567 a & b GRB <bright> été raw <text>"));
    }

    #[test]
    fn unknown_entities_stay_and_bad_xml_is_an_error() {
        assert_eq!(text("<a>&custom; &#xZZ; &</a>").as_deref(), Ok("&custom; &#xZZ; &"));
        assert!(text("<a attr=></a>").is_err());
        assert!(super::extract(&[0xff, b'<'], &mut Chunks::new(10)).is_err());
    }
}
