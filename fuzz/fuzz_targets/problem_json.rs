#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tiersplit_fuzz::problem_json(data));
