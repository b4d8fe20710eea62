//! Reading an answer in one wire format as another: for a provider that serves some models only through a different API than the one it declares (Copilot's Responses-only models behind its Chat Completions API).

use bytes::Bytes;

use crate::providers::WireFormat;
use crate::translate::codec::{self, StreamDecoder, StreamEncoder};
use crate::wire::sse::{SseSplitter, event_data, event_ranges};

/// An answer in `from`, turned into `to` as it streams.
pub struct AnswerConverter {
    splitter: SseSplitter,
    decoder: StreamDecoder,
    encoder: StreamEncoder,
    from: WireFormat,
    to: WireFormat,
    /// An event grew past the splitter's limit: the stream is broken.
    failed: bool,
}

impl AnswerConverter {
    pub fn new(from: WireFormat, to: WireFormat) -> AnswerConverter {
        AnswerConverter {
            splitter: SseSplitter::default(),
            decoder: StreamDecoder::new(from),
            encoder: StreamEncoder::new(to, true),
            from,
            to,
            failed: false,
        }
    }

    /// The `to` frames of the events `chunk` completes.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        if self.failed {
            return Bytes::new();
        }
        match self.splitter.push(Bytes::copy_from_slice(chunk)) {
            Ok(Some(block)) => self.convert(&block),
            Ok(None) => Bytes::new(),
            Err(too_large) => {
                self.failed = true;
                let event = crate::translate::ir::StreamEvent::Error {
                    message: too_large.to_string(),
                };
                Bytes::from(self.encoder.encode(&event))
            }
        }
    }

    /// What is left when the upstream ends, and the closing frames when the
    /// upstream ended without its own.
    pub fn finish(&mut self) -> Bytes {
        if self.failed {
            return Bytes::new();
        }
        let mut out = match self.splitter.finish() {
            Some(rest) => self.convert(&rest).to_vec(),
            None => Vec::new(),
        };
        if let Some(event) = self.decoder.finish() {
            out.extend_from_slice(self.encoder.encode(&event).as_bytes());
        }
        Bytes::from(out)
    }

    fn convert(&mut self, block: &[u8]) -> Bytes {
        let mut out = String::new();
        for range in event_ranges(block) {
            let Some(data) = event_data(&block[range]) else {
                continue;
            };
            for event in self.decoder.data(&data) {
                out.push_str(&self.encoder.encode(&event));
            }
        }
        Bytes::from(out)
    }

    /// A whole answer in `from` as a whole answer in `to`.
    pub fn whole(self, body: &[u8]) -> Result<Bytes, String> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| format!("the upstream answer is not JSON: {e}"))?;
        let response = codec::decode_response(self.from, &value).map_err(|e| e.to_string())?;
        Ok(Bytes::from(
            codec::encode_response(self.to, &response).to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_responses_stream_becomes_chat_chunks_whatever_the_chunking() {
        let sse = concat!(
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r1\",\"model\":\"gpt-5.4\",\"output\":[]}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"lo\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r1\",\"model\":\"gpt-5.4\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":2,\"total_tokens\":5}}}\n\n",
        );
        for step in [1, 7, sse.len()] {
            let mut converter = AnswerConverter::new(WireFormat::Responses, WireFormat::Openai);
            let mut out = Vec::new();
            for piece in sse.as_bytes().chunks(step) {
                out.extend_from_slice(&converter.push(piece));
            }
            out.extend_from_slice(&converter.finish());
            let text = String::from_utf8(out).unwrap();
            let content: String = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .filter_map(|v| {
                    v.pointer("/choices/0/delta/content")
                        .and_then(|c| c.as_str())
                        .map(str::to_string)
                })
                .collect();
            assert_eq!(content, "Hello", "chunks of {step}: {text}");
            assert!(text.contains("[DONE]"), "{text}");
        }
    }
}
