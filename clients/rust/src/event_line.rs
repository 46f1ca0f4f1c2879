//! The fast path for the daemon's event lines: they are by far the most
//! common line, and the daemon writes them in one exact form
//! (`JSONWriter.eventLine` in Sources/Protocol/Reply.swift):
//!
//! `{"event":"ready","token":7,"readable":true,"writable":false,"error":false,"read_closed":false,"write_closed":false,"priority":false}`
//!
//! Anything else (another key order, spaces) returns `None` and goes through
//! the JSON parser, so the fast path never decides alone.

use mio::Token;

use crate::events::{flag, Event};

const PREFIX: &[u8] = b"{\"event\":\"ready\",\"token\":";

const FLAGS: [(&[u8], u8); 6] = [
    (b",\"readable\":", flag::READABLE),
    (b",\"writable\":", flag::WRITABLE),
    (b",\"error\":", flag::ERROR),
    (b",\"read_closed\":", flag::READ_CLOSED),
    (b",\"write_closed\":", flag::WRITE_CLOSED),
    (b",\"priority\":", flag::PRIORITY),
];

/// The event of a line in the daemon's exact event-line form.
pub(crate) fn parse(line: &[u8]) -> Option<Event> {
    let rest = line.strip_prefix(PREFIX)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    let mut token: u64 = 0;
    for &digit in &rest[..digits] {
        token = token.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    let mut rest = &rest[digits..];
    let mut flags = 0u8;
    for (key, bit) in FLAGS {
        rest = rest.strip_prefix(key)?;
        if let Some(after) = rest.strip_prefix(b"true") {
            flags |= bit;
            rest = after;
        } else {
            rest = rest.strip_prefix(b"false")?;
        }
    }
    if rest != b"}" {
        return None;
    }
    Some(Event::new(Token(usize::try_from(token).ok()?), flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_daemons_form() {
        let line = br#"{"event":"ready","token":18446744073709551615,"readable":true,"writable":false,"error":true,"read_closed":false,"write_closed":true,"priority":true}"#;
        let event = parse(line).expect("parsed");
        assert_eq!(event.token(), Token(u64::MAX as usize));
        assert!(event.is_readable() && !event.is_writable() && event.is_error());
        assert!(!event.is_read_closed() && event.is_write_closed() && event.is_priority());
    }

    #[test]
    fn anything_else_goes_to_the_parser() {
        for line in [
            &br#"{"event":"ready","token":7}"#[..],
            br#"{"event":"ready","token":,"readable":true,"writable":false,"error":false,"read_closed":false,"write_closed":false,"priority":false}"#,
            br#"{"event":"ready","token":18446744073709551616,"readable":true,"writable":false,"error":false,"read_closed":false,"write_closed":false,"priority":false}"#,
            br#"{"event":"ready","token":7,"readable":yes,"writable":false,"error":false,"read_closed":false,"write_closed":false,"priority":false}"#,
            br#"{"event":"ready","token":7,"readable":true,"writable":false,"error":false,"read_closed":false,"write_closed":false,"priority":false} "#,
            br#"{"event":"shutdown"}"#,
        ] {
            assert!(parse(line).is_none(), "{}", String::from_utf8_lossy(line));
        }
    }
}
