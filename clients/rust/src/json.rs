//! A small JSON reader for the daemon's replies and notices, and the writer
//! of request lines.
//!
//! Hand-written rather than serde_json: replies are few, small and compact,
//! a value tree is all they need, and the crate stays at two dependencies
//! (mio, libc) with a first build of seconds. Event lines, the hot path, do
//! not come here at all (`event_line`).

use crate::interest::RemoteInterest;

/// The nesting the parser accepts; the daemon's replies use 3.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// Integers that fit u64 / i64 are kept exact.
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// A member of an object (the last one, if repeated); `None` for absent
    /// or for a value that is not an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Unsigned(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// Parses one complete JSON text (whitespace around it allowed).
pub(crate) fn parse(text: &[u8]) -> Result<Value, String> {
    let mut parser = Parser { text, at: 0 };
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.at != text.len() {
        return Err(format!("text after the JSON value at byte {}", parser.at));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", byte as char, self.at))
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, String> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("invalid literal at byte {}", self.at))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("JSON nested too deeply".into());
        }
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(format!("unexpected byte at {}", self.at)),
            None => Err("the text ends inside a value".into()),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.skip_space();
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.at)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(format!("expected ',' or ']' at byte {}", self.at)),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Copy the run up to the next quote or backslash in one piece.
            let run = self.text[self.at..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let end = match run {
                Some(n) => self.at + n,
                None => return Err("the text ends inside a string".into()),
            };
            out.push_str(std::str::from_utf8(&self.text[self.at..end]).map_err(|_| "invalid UTF-8 in a string".to_string())?);
            self.at = end;
            match self.text[end] {
                b'"' => {
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.at += 1;
                    self.escape(&mut out)?;
                }
                _ => return Err(format!("a control character inside a string at byte {end}")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), String> {
        let byte = self.peek().ok_or("the text ends inside an escape")?;
        self.at += 1;
        match byte {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) && self.text[self.at..].starts_with(b"\\u") {
                    self.at += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err("an unpaired surrogate escape".into());
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else {
                    first
                };
                out.push(char::from_u32(code).ok_or("an unpaired surrogate escape")?);
            }
            _ => return Err(format!("invalid escape at byte {}", self.at - 1)),
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.text.get(self.at..self.at + 4).ok_or("the text ends inside a \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|_| "invalid \\u escape".to_string())?;
        let value = u32::from_str_radix(text, 16).map_err(|_| "invalid \\u escape".to_string())?;
        self.at += 4;
        Ok(value)
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        let mut integer = true;
        while let Some(b) = self.peek() {
            match b {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => integer = false,
                _ => break,
            }
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.text[start..self.at]).expect("ASCII");
        if integer {
            if let Ok(v) = text.parse::<u64>() {
                return Ok(Value::Unsigned(v));
            }
            if let Ok(v) = text.parse::<i64>() {
                return Ok(Value::Signed(v));
            }
        }
        text.parse::<f64>().map(Value::Float).map_err(|_| format!("invalid number {text:?}"))
    }
}

/// One request line: `{"op":"OP","id":ID,...fields}\n`, built in place.
pub(crate) struct RequestLine {
    bytes: Vec<u8>,
}

impl RequestLine {
    pub fn new(op: &str, id: u64) -> RequestLine {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(b"{\"op\":");
        write_string(&mut bytes, op);
        bytes.extend_from_slice(b",\"id\":");
        bytes.extend_from_slice(id.to_string().as_bytes());
        RequestLine { bytes }
    }

    fn key(&mut self, key: &str) {
        self.bytes.push(b',');
        write_string(&mut self.bytes, key);
        self.bytes.push(b':');
    }

    pub fn unsigned(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.bytes.extend_from_slice(value.to_string().as_bytes());
        self
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_string(&mut self.bytes, value);
        self
    }

    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.bytes.extend_from_slice(b"null");
        self
    }

    pub fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.bytes.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// `"interest":["readable","writable","priority"]`, in that order.
    pub fn interest(&mut self, key: &str, interest: RemoteInterest) -> &mut Self {
        self.key(key);
        self.bytes.push(b'[');
        let mut first = true;
        for name in interest.names() {
            if !first {
                self.bytes.push(b',');
            }
            first = false;
            write_string(&mut self.bytes, name);
        }
        self.bytes.push(b']');
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(b"}\n");
        self.bytes
    }
}

/// A JSON string literal: quotes, and escapes for `"`, `\` and control
/// characters; everything else (UTF-8 included) as it is.
pub(crate) fn write_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hello_reply() {
        let reply = parse(br#"{"id":1,"ok":true,"server":"mio-daemon","version":"0.1.0","protocol":1,"session":null,"limits":{"max_line":65536}}"#).unwrap();
        assert_eq!(reply.get("id").and_then(Value::as_u64), Some(1));
        assert_eq!(reply.get("ok").and_then(Value::as_bool), Some(true));
        assert_eq!(reply.get("session"), Some(&Value::Null));
        assert_eq!(reply.get("limits").and_then(|l| l.get("max_line")).and_then(Value::as_u64), Some(65536));
    }

    #[test]
    fn strings_numbers_and_escapes() {
        let v = parse(r#"[ "a\"b\\c\u00e9\ud83d\ude00\n", "é", -9223372036854775808, 18446744073709551615, 73.512, 1e2 ]"#.as_bytes()).unwrap();
        let items = v.as_array().unwrap();
        assert_eq!(items[0].as_str(), Some("a\"b\\c\u{e9}\u{1F600}\n"));
        assert_eq!(items[1].as_str(), Some("\u{e9}"));
        assert_eq!(items[2], Value::Signed(i64::MIN));
        assert_eq!(items[3], Value::Unsigned(u64::MAX));
        assert_eq!(items[4], Value::Float(73.512));
        assert_eq!(items[5], Value::Float(100.0));
    }

    #[test]
    fn refuses_what_is_not_json() {
        for text in [&b"{"[..], b"{\"a\":}", b"[1,]", b"\"abc", b"{} x", b"\"\x01\"", b"\"\\ud800\"", b"nul", b"\"\xff\""] {
            assert!(parse(text).is_err(), "{}", String::from_utf8_lossy(text));
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn request_lines_escape_what_they_must() {
        let mut line = RequestLine::new("hello", 3);
        line.string("session", "a\"b\\\n\u{1}é").boolean("persist", true).unsigned("token", u64::MAX).null("lease_s");
        line.interest("interest", RemoteInterest::READABLE | RemoteInterest::PRIORITY);
        let bytes = line.finish();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\"op\":\"hello\",\"id\":3,\"session\":\"a\\\"b\\\\\\n\\u0001é\",\"persist\":true,\"token\":18446744073709551615,\"lease_s\":null,\"interest\":[\"readable\",\"priority\"]}\n"
        );
        let parsed = parse(&bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(parsed.get("session").and_then(Value::as_str), Some("a\"b\\\n\u{1}é"));
    }
}
