//! The frame decoder under crafted bytes: random input and valid frames with bytes flipped or
//! cut. Every input decodes or is refused with an error, within the size limits; none panics.
//! CI runs a bounded number of cases; `TIERSPLIT_FUZZ_CASES=1000000` runs the long soak.

use proptest::prelude::*;
use std::time::Duration;
use tiersplit_graph::DType;
use tiersplit_net::{read_frame, Frame, Limits};

fn cases() -> u32 {
    std::env::var("TIERSPLIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Decodes every frame in `bytes`, as a connection would, until the first error or the end.
fn decode_all(bytes: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut r = bytes;
        let limits = Limits {
            max_payload: 1 << 20,
            ..Limits::default()
        };
        while let Ok(Some(_)) = read_frame(&mut r, limits, Duration::from_secs(1)).await {}
    });
}

fn valid() -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut out = Vec::new();
    rt.block_on(async {
        for f in [
            Frame::tensor(7, "x", DType::F32, vec![1, 2, 2], vec![0u8; 16]),
            Frame::error(8, "edge0", "part failed"),
            Frame::probe(32),
        ] {
            tiersplit_net::write_frame(&mut out, &f, Duration::from_secs(1))
                .await
                .unwrap();
        }
    });
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut bytes = valid();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        decode_all(&bytes);
    }
}
