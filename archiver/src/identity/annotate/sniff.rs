//! Upstream's content sniff: libmagic (`magic.Magic(flags=MAGIC_MIME_TYPE)`)
//! on the first 4096 payload bytes. libmagic decides in this order, and so
//! do we: empty, one byte, its JSON scanner (`is_json.c`), its signature
//! database, its text test. Of the signature database only the XML
//! declaration is reproduced; README lists what that leaves out.

/// How many leading payload bytes libmagic is shown, as upstream.
pub const SNIFF_BYTES_MAX: usize = 4096;

pub const OCTET_STREAM: &str = "application/octet-stream";

/// libmagic's MIME type for `payload`, as upstream gets it.
pub fn sniff(payload: &[u8]) -> &'static str {
    let head = &payload[..payload.len().min(SNIFF_BYTES_MAX)];
    match head.len() {
        0 => return "application/x-empty",
        // libmagic: "very short file (no magic)".
        1 => return OCTET_STREAM,
        _ => {}
    }
    if let Some(json) = json_kind(head) {
        return json;
    }
    if !looks_like_text(head) {
        return OCTET_STREAM;
    }
    let unmarked = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if unmarked.len() >= 5 && unmarked[..5].eq_ignore_ascii_case(b"<?xml") { "text/xml" } else { "text/plain" }
}

/// libmagic's text test (`encoding.c`): ASCII, UTF-8, ISO-8859 and
/// "extended ASCII" all count, so every byte is allowed except NUL and the
/// controls outside BEL..CR and ESC, and DEL.
fn looks_like_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| matches!(b, 0x07..=0x0d | 0x1b | 0x20..=0x7e | 0x80..=0xff))
}

/// libmagic's JSON scanner on the whole window: one object or array
/// (`application/json`), or a second document starting with the same
/// byte (`application/x-ndjson`). It is laxer than JSON (trailing commas,
/// leading zeros, raw control characters in strings), and a document cut
/// off by the window fails it.
fn json_kind(window: &[u8]) -> Option<&'static str> {
    let mut scan = JsonScan { bytes: window, at: 0, containers: 0 };
    let first = scan.skip_space();
    if first == window.len() || !scan.value(0) {
        return None;
    }
    let next = scan.skip_space();
    if next == window.len() {
        return (scan.containers > 0).then_some("application/json");
    }
    // libmagic checks only the second document, and only its own end.
    let ndjson = window[first] == window[next] && scan.value(1);
    (ndjson && scan.containers > 0).then_some("application/x-ndjson")
}

/// libmagic gives up beyond this recursion level (`lvl > 500`); each
/// nesting costs two levels.
const JSON_LEVEL_MAX: usize = 500;

struct JsonScan<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Complete objects and arrays seen, nested ones included: libmagic
    /// calls a document JSON only if it holds at least one.
    containers: usize,
}

impl JsonScan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn skip_space(&mut self) -> usize {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
        self.at
    }

    /// One value, then the space after it (libmagic's `json_parse`).
    fn value(&mut self, level: usize) -> bool {
        self.skip_space();
        if level > JSON_LEVEL_MAX {
            return false;
        }
        let ok = match self.peek() {
            None => return false,
            Some(b'"') => {
                self.at += 1;
                self.string()
            }
            Some(b'[') => {
                self.at += 1;
                self.array(level + 1)
            }
            Some(b'{') => {
                self.at += 1;
                self.object(level + 1)
            }
            Some(b't') => self.constant(b"true"),
            Some(b'f') => self.constant(b"false"),
            Some(b'n') => self.constant(b"null"),
            Some(_) => self.number(),
        };
        self.skip_space();
        ok
    }

    fn array(&mut self, level: usize) -> bool {
        loop {
            self.skip_space();
            if self.peek() == Some(b']') {
                self.at += 1;
                self.containers += 1;
                return true;
            }
            if !self.value(level + 1) {
                return false;
            }
            match self.next() {
                Some(b',') => continue,
                Some(b']') => {
                    self.containers += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn object(&mut self, level: usize) -> bool {
        loop {
            self.skip_space();
            match self.next() {
                Some(b'}') => {
                    self.containers += 1;
                    return true;
                }
                Some(b'"') if self.string() => {}
                _ => return false,
            }
            self.skip_space();
            if self.next() != Some(b':') || !self.value(level + 1) {
                return false;
            }
            match self.next() {
                Some(b',') => continue,
                Some(b'}') => {
                    self.containers += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// After the opening quote: any byte but NUL, and only JSON's escapes.
    fn string(&mut self) -> bool {
        loop {
            match self.next() {
                None | Some(0) => return false,
                Some(b'"') => return true,
                Some(b'\\') => match self.next() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        let digits = self.bytes.get(self.at..self.at + 4);
                        if !digits.is_some_and(|d| d.iter().all(u8::is_ascii_hexdigit)) {
                            return false;
                        }
                        self.at += 4;
                    }
                    _ => return false,
                },
                Some(_) => {}
            }
        }
    }

    /// libmagic compares the word's letters only as far as the window goes.
    fn constant(&mut self, word: &[u8]) -> bool {
        let rest = &self.bytes[self.at..];
        let n = rest.len().min(word.len());
        self.at += n;
        rest[..n] == word[..n]
    }

    /// `-?digits*(.digits*)?` with at least one digit, then an exponent
    /// only after a digit; libmagic allows leading zeros and `1.`/`.5`.
    fn number(&mut self) -> bool {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let mut digits = self.digits();
        if self.peek() == Some(b'.') {
            self.at += 1;
            digits |= self.digits();
        }
        if digits && matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            return self.digits();
        }
        digits
    }

    fn digits(&mut self) -> bool {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at > start
    }
}
