//! Fuzz target: arbitrary bytes as an OpenAI Chat Completions request body, decoded and re-encoded into every format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use omniroute::providers::WireFormat;

fuzz_target!(|data: &[u8]| omniroute_fuzz::request(WireFormat::Openai, data));
