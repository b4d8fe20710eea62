//! Server-sent events framing: splitting a byte stream into whole events without copying.

use bytes::{Bytes, BytesMut};

/// Largest event we hold while waiting for its end; a longer one means a
/// broken or hostile upstream.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("an upstream event exceeded {0} bytes")]
pub struct EventTooLarge(pub usize);

/// Cuts a byte stream at event boundaries (blank lines). Chunks that end on
/// a boundary pass through as the same `Bytes` (no copy).
#[derive(Default)]
pub struct SseSplitter {
    pending: BytesMut,
}

/// The offset just past the last blank line in `buf`, if any.
fn last_boundary(buf: &[u8]) -> Option<usize> {
    let mut i = buf.len();
    while i >= 2 {
        if buf[i - 1] == b'\n' {
            if buf[i - 2] == b'\n' {
                return Some(i);
            }
            if i >= 3 && buf[i - 2] == b'\r' && buf[i - 3] == b'\n' {
                return Some(i);
            }
        }
        i -= 1;
    }
    None
}

impl SseSplitter {
    /// Takes the next chunk and returns every event completed by it, as one
    /// block of whole events, or `None` while an event is still open.
    pub fn push(&mut self, chunk: Bytes) -> Result<Option<Bytes>, EventTooLarge> {
        if self.pending.is_empty() {
            return Ok(match last_boundary(&chunk) {
                Some(end) if end == chunk.len() => Some(chunk),
                Some(end) => {
                    self.pending.extend_from_slice(&chunk[end..]);
                    self.check()?;
                    Some(chunk.slice(..end))
                }
                None => {
                    self.pending.extend_from_slice(&chunk);
                    self.check()?;
                    None
                }
            });
        }
        self.pending.extend_from_slice(&chunk);
        match last_boundary(&self.pending) {
            Some(end) => {
                let block = self.pending.split_to(end).freeze();
                self.check()?;
                Ok(Some(block))
            }
            None => {
                self.check()?;
                Ok(None)
            }
        }
    }

    /// What is left when the stream ends (an event with no final blank line).
    pub fn finish(&mut self) -> Option<Bytes> {
        (!self.pending.is_empty()).then(|| self.pending.split().freeze())
    }

    fn check(&self) -> Result<(), EventTooLarge> {
        if self.pending.len() > MAX_EVENT_BYTES {
            return Err(EventTooLarge(MAX_EVENT_BYTES));
        }
        Ok(())
    }
}

/// Splits a block of whole events into the byte ranges of each event
/// (each range includes its terminating blank line).
pub fn event_ranges(block: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        if block[i] == b'\n' {
            let next = i + 1;
            let blank = match block.get(next) {
                Some(b'\n') => Some(next + 1),
                Some(b'\r') if block.get(next + 1) == Some(&b'\n') => Some(next + 2),
                _ => None,
            };
            if let Some(end) = blank {
                ranges.push(start..end);
                start = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    if start < block.len() {
        ranges.push(start..block.len());
    }
    ranges
}

/// The `data` of one event: its `data:` lines joined by `\n`. Borrowed when
/// there is one data line (the usual case).
pub fn event_data(event: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut lines = event
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter_map(|l| l.strip_prefix(b"data:"))
        .map(|d| d.strip_prefix(b" ").unwrap_or(d));
    let first = lines.next()?;
    match lines.next() {
        None => Some(std::borrow::Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = first.to_vec();
            for part in std::iter::once(second).chain(lines) {
                joined.push(b'\n');
                joined.extend_from_slice(part);
            }
            Some(std::borrow::Cow::Owned(joined))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_chunk_passes_without_copy() {
        let mut s = SseSplitter::default();
        let chunk = Bytes::from_static(b"data: a\n\ndata: b\n\n");
        let out = s.push(chunk.clone()).unwrap().unwrap();
        assert_eq!(out.as_ptr(), chunk.as_ptr());
        assert_eq!(out.len(), chunk.len());
    }

    #[test]
    fn events_split_across_chunks_are_joined() {
        let mut s = SseSplitter::default();
        assert_eq!(s.push(Bytes::from_static(b"data: {\"a\"")).unwrap(), None);
        assert_eq!(s.push(Bytes::from_static(b":1}\n")).unwrap(), None);
        let out = s.push(Bytes::from_static(b"\ndata: x")).unwrap().unwrap();
        assert_eq!(&out[..], b"data: {\"a\":1}\n\n");
        assert_eq!(s.finish().as_deref(), Some(&b"data: x"[..]));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn crlf_framing_is_understood() {
        let block = b"data: 1\r\n\r\ndata: 2\r\n\r\n";
        let mut s = SseSplitter::default();
        assert_eq!(
            s.push(Bytes::from_static(block)).unwrap().unwrap().len(),
            block.len()
        );
        let ranges = event_ranges(block);
        assert_eq!(ranges.len(), 2);
        assert_eq!(
            event_data(&block[ranges[1].clone()]).as_deref(),
            Some(&b"2"[..])
        );
    }

    #[test]
    fn event_data_joins_lines_and_skips_other_fields() {
        let ev = b"event: message\nid: 4\ndata: one\ndata:two\n\n";
        assert_eq!(event_data(ev).as_deref(), Some(&b"one\ntwo"[..]));
        assert_eq!(event_data(b": comment\n\n"), None);
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut s = SseSplitter::default();
        let big = Bytes::from(vec![b'x'; MAX_EVENT_BYTES + 1]);
        assert_eq!(s.push(big), Err(EventTooLarge(MAX_EVENT_BYTES)));
    }
}
