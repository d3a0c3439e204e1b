//! A message's payload as a message page shows it, by what it is: JSON
//! indented, XML indented, text as text, anything else as a hex dump of
//! its first bytes. Indenting only adds line breaks and spaces between
//! tokens — every key, number, string and entity stays exactly as sent —
//! and only a payload that parses completely is indented; the rest is
//! shown as it is. Everything is cut to a bound and escaped.

use std::fmt::Write as _;

use super::page::escape_html;

/// Payload bytes shown as text (or indented); the rest is behind the
/// download link.
pub const PAYLOAD_SHOWN_BYTES_MAX: usize = 64 * 1024;
/// Bytes shown in a hex dump.
pub const HEX_SHOWN_BYTES_MAX: usize = 4096;
/// Longest indented rendering; a deeply nested payload whose indentation
/// would grow beyond it is shown as it is.
const INDENTED_BYTES_MAX: usize = 256 * 1024;
/// Deepest XML nesting indented.
const XML_DEPTH_MAX: usize = 64;

/// How the page shows a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Json,
    Xml,
    Text,
    Hex,
}

impl Shown {
    /// The `data-encoding` of the payload's `<pre>`.
    fn name(self) -> &'static str {
        match self {
            Shown::Json => "json",
            Shown::Xml => "xml",
            Shown::Text => "text",
            Shown::Hex => "hex",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shown::Json => "JSON, indented",
            Shown::Xml => "XML, indented",
            Shown::Text => "text",
            Shown::Hex => "a hex dump (offset, bytes, printable ASCII)",
        }
    }
}

/// The payload section's HTML: a note on how it is shown, the `<pre>`, and
/// how much was left out. The `<pre>` is focusable: a hex dump (or a long line) scrolls sideways
/// on a narrow screen, and keyboard users must be able to scroll it.
pub fn payload_html(media_type: &str, payload: Option<&[u8]>) -> String {
    let Some(payload) = payload else {
        return "<p id=\"payload\" data-encoding=\"none\">This message has no payload (null).</p>\n".to_owned();
    };
    let (shown, text, shown_len) = render(media_type, payload);
    let mut html = format!(
        "<p class=\"note\">{} bytes, media type {}, shown as {}.</p>\n<pre id=\"payload\" data-encoding=\"{}\"{} \
         tabindex=\"0\">{}</pre>\n",
        payload.len(),
        escape_html(media_type),
        shown.describe(),
        shown.name(),
        if shown == Shown::Hex { " class=\"hex\"" } else { "" },
        escape_html(&text)
    );
    if shown_len < payload.len() {
        let _ = writeln!(
            html,
            "<p class=\"note\">Showing the first {shown_len} of {} bytes: download the payload for the rest.</p>",
            payload.len()
        );
    }
    html
}

/// How `payload` is shown, the text shown (not yet escaped) and how many
/// of its bytes that covers.
pub fn render(media_type: &str, payload: &[u8]) -> (Shown, String, usize) {
    let binary = matches!(media_type, "application/octet-stream" | "application/avro");
    let complete = payload.len() <= PAYLOAD_SHOWN_BYTES_MAX;
    let head = &payload[..payload.len().min(PAYLOAD_SHOWN_BYTES_MAX)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        // Cut inside a character: the text up to it.
        Err(e) if !complete && e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    let Some(text) = text.filter(|_| !binary) else {
        let head = &payload[..payload.len().min(HEX_SHOWN_BYTES_MAX)];
        return (Shown::Hex, hex_dump(head), head.len());
    };
    if complete {
        if looks_like_json(media_type, text)
            && let Some(indented) = indent_json(text)
        {
            return (Shown::Json, indented, payload.len());
        }
        if looks_like_xml(media_type, text)
            && let Some(indented) = indent_xml(text)
        {
            return (Shown::Xml, indented, payload.len());
        }
    }
    (Shown::Text, text.to_owned(), text.len())
}

/// JSON by its media type, or text that starts like a JSON object or
/// array (libmagic calls JSON over 4 KiB plain text).
fn looks_like_json(media_type: &str, text: &str) -> bool {
    media_type.contains("json") || text.trim_start().starts_with(['{', '['])
}

/// XML by its media type (VOEvents included), or text that starts with a tag.
fn looks_like_xml(media_type: &str, text: &str) -> bool {
    media_type.contains("xml") || media_type.contains("voevent") || text.trim_start().starts_with('<')
}

/// Valid JSON re-laid out two spaces per level, everything between the
/// whitespace kept byte for byte (key order, number spelling, escapes);
/// `None` for invalid JSON or an indentation over [`INDENTED_BYTES_MAX`].
pub fn indent_json(text: &str) -> Option<String> {
    // serde_json's parser also bounds the nesting (128 levels).
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                let start = i;
                i += 1;
                while *bytes.get(i)? != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                out.push_str(text.get(start..=i)?);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                let next = i + 1 + bytes[i + 1..].iter().take_while(|c| c.is_ascii_whitespace()).count();
                if bytes.get(next) == Some(&close) {
                    out.push(b as char);
                    out.push(close as char);
                    i = next;
                } else {
                    depth += 1;
                    out.push(b as char);
                    new_line(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                new_line(&mut out, depth);
                out.push(b as char);
            }
            b',' => {
                out.push(',');
                new_line(&mut out, depth);
            }
            b':' => out.push_str(": "),
            b' ' | b'\t' | b'\n' | b'\r' => {}
            // Numbers and literals: ASCII in valid JSON.
            _ => out.push(b as char),
        }
        if out.len() > INDENTED_BYTES_MAX {
            return None;
        }
        i += 1;
    }
    Some(out)
}

fn new_line(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n("  ", depth));
}

/// Where the XML indenter is on its current line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Just wrote an element's `>`: text may follow on the same line.
    Opened,
    /// Just wrote an element's text after its `>`: its end tag follows on the same line.
    Text,
    /// Anything else: the next item starts a new line.
    Done,
}

/// Well-formed XML (tokens as `xmlparser` reads them, end tags matching
/// their start tags) with one element, comment or instruction per line,
/// two spaces per level, an element whose content is only text on one
/// line; whitespace between elements dropped, everything else kept as
/// written (attributes, entities, CDATA). `None` for anything else.
pub fn indent_xml(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() * 2);
    let mut open: Vec<&str> = Vec::new();
    let mut starting: &str = "";
    let mut line = Line::Done;
    let mut elements = 0usize;
    for token in xmlparser::Tokenizer::from(text) {
        match token.ok()? {
            xmlparser::Token::ElementStart { span, .. } => {
                start_line(&mut out, open.len());
                out.push_str(span.as_str());
                starting = span.as_str().get(1..)?;
                elements += 1;
            }
            xmlparser::Token::Attribute { span, .. } => {
                out.push(' ');
                out.push_str(span.as_str());
            }
            xmlparser::Token::ElementEnd { end, span } => match end {
                xmlparser::ElementEnd::Open => {
                    out.push('>');
                    open.push(starting);
                    line = Line::Opened;
                    if open.len() > XML_DEPTH_MAX {
                        return None;
                    }
                }
                xmlparser::ElementEnd::Empty => {
                    out.push_str("/>");
                    line = Line::Done;
                }
                xmlparser::ElementEnd::Close(..) => {
                    let name = open.pop()?;
                    if span.as_str().get(2..)?.trim_end_matches('>').trim_end() != name {
                        return None;
                    }
                    if line == Line::Done {
                        start_line(&mut out, open.len());
                    }
                    out.push_str(span.as_str());
                    line = Line::Done;
                }
            },
            xmlparser::Token::Text { text } => {
                let content = text.as_str().trim();
                if !content.is_empty() {
                    push_content(&mut out, &mut line, open.len(), content);
                }
            }
            xmlparser::Token::Cdata { span, .. } => push_content(&mut out, &mut line, open.len(), span.as_str()),
            other => {
                start_line(&mut out, open.len());
                out.push_str(other.span().as_str());
                line = Line::Done;
            }
        }
        if out.len() > INDENTED_BYTES_MAX {
            return None;
        }
    }
    (open.is_empty() && elements > 0).then_some(out)
}

/// Text or CDATA: on the element's line when it follows the start tag directly.
fn push_content(out: &mut String, line: &mut Line, depth: usize, content: &str) {
    if *line == Line::Opened {
        *line = Line::Text;
    } else {
        start_line(out, depth);
        *line = Line::Done;
    }
    out.push_str(content);
}

fn start_line(out: &mut String, depth: usize) {
    if !out.is_empty() {
        new_line(out, depth);
    }
}

/// `hexdump -C`'s layout: offset, 16 bytes in two groups of 8, and the
/// printable ASCII characters (others as `.`).
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 5);
    for (n, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x} ", n * 16);
        for i in 0..16 {
            if i == 8 {
                out.push(' ');
            }
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(chunk.iter().map(|&b| if b == b' ' || b.is_ascii_graphic() { b as char } else { '.' }));
        out.push_str("|\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_indented_without_changing_a_token() {
        let text = r#" {"z": 1.50e3, "a":[1, {"k" : "v,\"}{"}, [], {} ,null], "b": {"c": true}, "é": 12345678901234567890123}"#;
        let want = "{\n  \"z\": 1.50e3,\n  \"a\": [\n    1,\n    {\n      \"k\": \"v,\\\"}{\"\n    },\n    [],\n    {},\n    null\n  ],\n  \"b\": {\n    \"c\": true\n  },\n  \"é\": 12345678901234567890123\n}";
        assert_eq!(indent_json(text).as_deref(), Some(want));
        assert_eq!(indent_json("[]").as_deref(), Some("[]"));
        assert_eq!(indent_json("\"just a string\"").as_deref(), Some("\"just a string\""));
        for bad in ["{", "{\"a\":}", "[1,]", "{'a': 1}", "", "nul"] {
            assert_eq!(indent_json(bad), None, "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let indented = indent_json(&deep).expect("100 levels parse");
        assert!(indented.len() > 10_000 && indented.len() <= INDENTED_BYTES_MAX);
    }

    #[test]
    fn xml_is_indented_and_must_be_well_formed() {
        let text = "<?xml version=\"1.0\"?>\n<voe:VOEvent ivorn=\"ivo://x\" role='test'><Who><Date>2023-11-14</Date>\
                    <!-- c --></Who>\n  <What><Param name=\"a&amp;b\" value=\"1\"/><Description><![CDATA[<raw>]]></Description>\
                    <Text>a &lt; b</Text><Empty></Empty></What></voe:VOEvent>";
        let want = "<?xml version=\"1.0\"?>\n<voe:VOEvent ivorn=\"ivo://x\" role='test'>\n  <Who>\n    <Date>2023-11-14</Date>\n    \
                    <!-- c -->\n  </Who>\n  <What>\n    <Param name=\"a&amp;b\" value=\"1\"/>\n    \
                    <Description><![CDATA[<raw>]]></Description>\n    <Text>a &lt; b</Text>\n    <Empty></Empty>\n  </What>\n\
                    </voe:VOEvent>";
        assert_eq!(indent_xml(text).as_deref(), Some(want));
        for bad in ["<a><b></a></b>", "<a>", "<a></b>", "plain text", "<a x=1/>", "", "<a></a></a>"] {
            assert_eq!(indent_xml(bad), None, "{bad}");
        }
        let deep = format!("{}{}", "<a>".repeat(65), "</a>".repeat(65));
        assert_eq!(indent_xml(&deep), None, "deeper than {XML_DEPTH_MAX}");
    }

    #[test]
    fn payloads_are_shown_by_type() {
        let kind = |media: &str, payload: &[u8]| render(media, payload).0;
        assert_eq!(kind("application/json", b"{\"a\": 1}"), Shown::Json);
        assert_eq!(kind("text/plain", b" [1, 2]"), Shown::Json, "JSON over 4 KiB is sniffed as text");
        assert_eq!(kind("application/json", b"{broken"), Shown::Text);
        assert_eq!(kind("application/x.voevent", b"<a><b>1</b></a>"), Shown::Xml);
        assert_eq!(kind("application/x.voevent", b"<a><b>1</a>"), Shown::Text);
        assert_eq!(kind("application/x.gcn.circular", b"TITLE: GCN CIRCULAR\n"), Shown::Text);
        assert_eq!(kind("application/octet-stream", b"\x00\x01\xff"), Shown::Hex);
        assert_eq!(kind("application/avro", b"Obj\x01 all ASCII"), Shown::Hex, "Avro is binary whatever its bytes");
        assert_eq!(kind("text/plain", b"caf\xc3"), Shown::Hex, "invalid UTF-8");
        let long_json = format!("[{}1]", "1,".repeat(PAYLOAD_SHOWN_BYTES_MAX));
        let (shown, text, len) = render("application/json", long_json.as_bytes());
        assert_eq!(
            (shown, text.len(), len),
            (Shown::Text, PAYLOAD_SHOWN_BYTES_MAX, PAYLOAD_SHOWN_BYTES_MAX),
            "cut, not indented"
        );
        let mut cut_in_char = vec![b'a'; PAYLOAD_SHOWN_BYTES_MAX - 1];
        cut_in_char.extend("é and more".as_bytes());
        let (shown, _, len) = render("text/plain", &cut_in_char);
        assert_eq!((shown, len), (Shown::Text, PAYLOAD_SHOWN_BYTES_MAX - 1), "cut before the split character");
        let (shown, dump, len) = render("application/octet-stream", &[0u8; 10_000]);
        assert_eq!((shown, len, dump.lines().count()), (Shown::Hex, HEX_SHOWN_BYTES_MAX, HEX_SHOWN_BYTES_MAX / 16));
    }

    #[test]
    fn hex_dump_layout() {
        assert_eq!(
            hex_dump(b"{\"a\": 1}\n\x00<&>0123456789"),
            "00000000  7b 22 61 22 3a 20 31 7d  0a 00 3c 26 3e 30 31 32  |{\"a\": 1}..<&>012|\n\
             00000010  33 34 35 36 37 38 39                              |3456789|\n"
        );
    }
}
