//! Server-sent events: formatting (server side) and an incremental reader (client side).

use std::io::{self, BufRead};

use crate::http::read_line;

/// One event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, if any.
    pub id: Option<String>,
}

/// Formats a `data:`-only event (`data` must not contain a newline).
pub fn format_data(data: &str) -> String {
    format!("data: {data}\n\n")
}

/// Reads events from a stream as they arrive.
pub struct SseReader<R> {
    inner: R,
}

impl<R: BufRead> SseReader<R> {
    /// Reads events from `inner` (the decoded response body).
    pub fn new(inner: R) -> Self {
        SseReader { inner }
    }

    /// The next event, or `None` at the end of the stream. Blocks until a whole event
    /// (terminated by an empty line) has arrived.
    pub fn next_event(&mut self) -> io::Result<Option<Event>> {
        let mut ev = Event::default();
        let mut has_field = false;
        let mut data_lines: Vec<String> = Vec::new();
        loop {
            let line = match read_line(&mut self.inner) {
                Ok(Some(l)) => l,
                // End of stream: an incomplete event is discarded (as browsers do).
                Ok(None) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            };
            if line.is_empty() {
                if has_field {
                    ev.data = data_lines.join("\n");
                    return Ok(Some(ev));
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // comment
            }
            let (name, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            has_field = true;
            match name {
                "data" => data_lines.push(value.to_owned()),
                "event" => ev.event = Some(value.to_owned()),
                "id" => ev.id = Some(value.to_owned()),
                _ => {}
            }
        }
    }
}

impl<R: BufRead> Iterator for SseReader<R> {
    type Item = io::Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_events() {
        let raw =
            ": comment\n\ndata: {\"a\":1}\n\nevent: x\ndata:one\ndata: two\nid: 7\n\ndata: cut";
        let evs: Vec<Event> = SseReader::new(Cursor::new(raw))
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].data, "{\"a\":1}");
        assert_eq!(evs[1].event.as_deref(), Some("x"));
        assert_eq!(evs[1].data, "one\ntwo");
        assert_eq!(evs[1].id.as_deref(), Some("7"));
        assert_eq!(format_data("x"), "data: x\n\n");
    }
}
