//! What every fuzz target does: arbitrary bytes into one format's request or stream decoder, and whatever decodes back out through every format's encoder. A panic anywhere is a finding.

use bytes::Bytes;
use omniroute::providers::WireFormat;
use omniroute::translate::codec;
use omniroute::translate::ir::StreamEvent;
use omniroute::wire::sse::{SseSplitter, event_data, event_ranges};
use serde_json::Value;

const FORMATS: [WireFormat; 4] = [
    WireFormat::Openai,
    WireFormat::Anthropic,
    WireFormat::Gemini,
    WireFormat::Responses,
];

/// A request body in `format`: decoded, and when it decodes, encoded into
/// every format and decoded again there (an encoder's output is input for
/// the next hop too).
pub fn request(format: WireFormat, data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(request) = codec::decode_request(format, &body) else {
        return;
    };
    for to in FORMATS {
        let encoded = codec::encode_request(to, &request);
        let _ = codec::decode_request(to, &encoded);
    }
}

/// Chunk sizes the stream bytes are delivered in, so event boundaries land
/// at every kind of place in a chunk, as they do on a real connection,
/// while a seed file stays plain SSE.
const CHUNK_SIZES: [usize; 5] = [1, 7, 64, 3, 4096];

/// Feeds one block of whole SSE events to `decoder`.
fn feed(decoder: &mut codec::StreamDecoder, block: &[u8], events: &mut Vec<StreamEvent>) {
    for range in event_ranges(block) {
        if let Some(data) = event_data(&block[range]) {
            events.extend(decoder.data(&data));
        }
    }
}

/// The IR events of SSE `bytes` read by `format`'s decoder, delivered in
/// chunks through the gateway's own splitter.
fn decode_stream(format: WireFormat, bytes: &[u8]) -> Vec<StreamEvent> {
    let mut splitter = SseSplitter::default();
    let mut decoder = codec::StreamDecoder::new(format);
    let mut events = Vec::new();
    let mut rest = bytes;
    for size in CHUNK_SIZES.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        rest = tail;
        match splitter.push(Bytes::copy_from_slice(chunk)) {
            Ok(Some(block)) => feed(&mut decoder, &block, &mut events),
            Ok(None) => {}
            // Only an event over the size limit, which fuzz inputs never reach.
            Err(_) => return events,
        }
    }
    if let Some(block) = splitter.finish() {
        feed(&mut decoder, &block, &mut events);
    }
    events.extend(decoder.finish());
    events
}

/// An upstream stream in `format`: decoded into IR events, which every
/// format's encoder writes out, and which that format's decoder reads back.
pub fn stream(format: WireFormat, data: &[u8]) {
    let events = decode_stream(format, data);
    for to in FORMATS {
        for include_usage in [true, false] {
            let mut encoder = codec::StreamEncoder::new(to, include_usage);
            let sse: String = events.iter().map(|e| encoder.encode(e)).collect();
            decode_stream(to, sse.as_bytes());
        }
    }
}
