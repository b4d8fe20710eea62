//! Request and response bodies kept for debugging (setting `log_bodies`): capped at 256 KiB, taken as refcounted slices where the bytes already exist.

use bytes::{Bytes, BytesMut};

/// Most bytes of one body that are kept.
pub const BODY_CAP: usize = 256 * 1024;
/// Appended to a stored body that was cut at [`BODY_CAP`].
pub const TRUNCATED_MARK: &str = "…[truncated]";

/// A body as logged: at most [`BODY_CAP`] bytes, and whether more was cut.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoggedBody {
    pub bytes: Bytes,
    pub truncated: bool,
}

impl LoggedBody {
    /// The first [`BODY_CAP`] bytes of a whole body: a slice of the same
    /// buffer (a refcount, no copy).
    pub fn of(body: &Bytes) -> LoggedBody {
        if body.len() <= BODY_CAP {
            return LoggedBody {
                bytes: body.clone(),
                truncated: false,
            };
        }
        LoggedBody {
            bytes: body.slice(..char_boundary(body, BODY_CAP)),
            truncated: true,
        }
    }

    /// The text stored: the bytes as UTF-8 (invalid sequences replaced),
    /// then [`TRUNCATED_MARK`] when the body was cut.
    pub fn to_text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            text.push_str(TRUNCATED_MARK);
        }
        text
    }
}

/// Where to cut `bytes` at or before `at` without splitting a UTF-8
/// character, so a cut text does not end in a replacement character.
fn char_boundary(bytes: &[u8], at: usize) -> usize {
    let mut cut = at.min(bytes.len());
    // A continuation byte (10xxxxxx) at the cut means a character straddles
    // it; a UTF-8 character is at most 4 bytes, so look back at most 3.
    for _ in 0..3 {
        if cut == 0 || cut >= bytes.len() || bytes[cut] & 0xC0 != 0x80 {
            break;
        }
        cut -= 1;
    }
    cut
}

/// The bytes of a stream as they go to the caller, kept up to [`BODY_CAP`].
#[derive(Debug, Default)]
pub struct StreamCapture {
    buf: BytesMut,
    truncated: bool,
}

impl StreamCapture {
    /// Keeps what fits of `chunk`; past the cap only notes that bytes were cut.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.truncated {
            return;
        }
        let room = BODY_CAP - self.buf.len();
        if chunk.len() <= room {
            self.buf.extend_from_slice(chunk);
        } else {
            let cut = char_boundary(chunk, room);
            self.buf.extend_from_slice(&chunk[..cut]);
            self.truncated = true;
        }
    }

    pub fn finish(self) -> LoggedBody {
        LoggedBody {
            bytes: self.buf.freeze(),
            truncated: self.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_are_kept_whole_and_shared() {
        let body = Bytes::from_static(b"{\"model\":\"m\"}");
        let logged = LoggedBody::of(&body);
        assert!(!logged.truncated);
        assert_eq!(logged.bytes.as_ptr(), body.as_ptr(), "a slice, not a copy");
        assert_eq!(logged.to_text(), "{\"model\":\"m\"}");
    }

    #[test]
    fn large_bodies_are_cut_at_the_cap_on_a_character_boundary() {
        // 'é' is two bytes; an odd prefix puts one across the cap.
        let mut text = String::from("x");
        while text.len() < BODY_CAP + 10 {
            text.push('é');
        }
        let logged = LoggedBody::of(&Bytes::from(text));
        assert!(logged.truncated);
        assert_eq!(logged.bytes.len(), BODY_CAP - 1);
        let stored = logged.to_text();
        assert!(stored.ends_with(&format!("é{TRUNCATED_MARK}")), "no U+FFFD");
        assert!(!stored.contains('\u{FFFD}'));
    }

    #[test]
    fn a_stream_capture_keeps_the_first_bytes_then_marks_the_cut() {
        let mut capture = StreamCapture::default();
        capture.push(b"data: 1\n\n");
        capture.push(&vec![b'a'; BODY_CAP]);
        capture.push(b"data: never\n\n");
        let logged = capture.finish();
        assert!(logged.truncated);
        assert_eq!(logged.bytes.len(), BODY_CAP);
        assert!(logged.bytes.starts_with(b"data: 1\n\n"));
        assert!(logged.to_text().ends_with(TRUNCATED_MARK));

        let mut small = StreamCapture::default();
        small.push(b"data: [DONE]\n\n");
        let logged = small.finish();
        assert!(!logged.truncated);
        assert_eq!(logged.to_text(), "data: [DONE]\n\n");
    }
}
