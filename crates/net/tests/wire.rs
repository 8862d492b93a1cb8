//! The wire format over real loopback sockets and in-memory pipes: round trips, every kind of
//! bad input refused with a clear error, and timeouts instead of hangs.

use proptest::prelude::*;
use std::time::Duration;
use tiersplit_graph::DType;
use tiersplit_net::{
    read_frame, write_frame, write_header, write_payload, Frame, FrameKind, Limits, NetError,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(5);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tensors_cross_a_real_socket() {
    rt().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = tokio::time::timeout(T, listener.accept())
                .await
                .unwrap()
                .unwrap();
            let mut got = Vec::new();
            while let Some(f) = read_frame(&mut s, Limits::default(), T).await.unwrap() {
                got.push(f);
            }
            got
        });
        let mut c = tokio::time::timeout(T, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let big: Vec<u8> = (0..4 * 3 * 224 * 224).map(|i| (i % 251) as u8).collect();
        let frames = vec![
            Frame::tensor(7, "input", DType::F32, vec![1, 3, 224, 224], big)
                .in_session(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
            Frame::probe(64),
            Frame::error(8, "conv1", "engine failed"),
            Frame::tensor(9, "ids", DType::I64, vec![2], vec![0; 16]),
        ];
        for f in &frames {
            write_frame(&mut c, f, T).await.unwrap();
        }
        drop(c);
        let got = tokio::time::timeout(T, server).await.unwrap().unwrap();
        assert_eq!(got, frames);
        assert_eq!(got[2].kind, FrameKind::Error);
    });
}

#[test]
fn a_frame_written_in_pieces_reads_as_one() {
    rt().block_on(async {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let payload: Vec<u8> = (0..200_000).map(|i| (i % 253) as u8).collect();
        let f = Frame::tensor(3, "x", DType::F32, vec![50_000], payload);
        let sent = f.clone();
        let writer = tokio::spawn(async move {
            write_header(&mut a, &sent, T).await.unwrap();
            for piece in sent.payload.chunks(16 << 10) {
                write_payload(&mut a, piece, T).await.unwrap();
            }
            write_frame(&mut a, &Frame::probe(8), T).await.unwrap();
        });
        let got = read_frame(&mut b, Limits::default(), T).await.unwrap();
        assert_eq!(got, Some(f));
        let next = read_frame(&mut b, Limits::default(), T).await.unwrap();
        assert_eq!(next.map(|f| f.kind), Some(FrameKind::Probe));
        writer.await.unwrap();
    });
}

async fn read_bytes(bytes: Vec<u8>, limits: Limits) -> Result<Option<Frame>, NetError> {
    let (mut a, mut b) = tokio::io::duplex(1 << 20);
    a.write_all(&bytes).await.unwrap();
    drop(a);
    read_frame(&mut b, limits, T).await
}

fn encoded(f: &Frame) -> Vec<u8> {
    rt().block_on(async {
        let (mut a, mut b) = tokio::io::duplex(1 << 22);
        write_frame(&mut a, f, T).await.unwrap();
        drop(a);
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut b, &mut out)
            .await
            .unwrap();
        out
    })
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let good = encoded(&Frame::tensor(1, "x", DType::F32, vec![2, 2], vec![0; 16]));
    let rt = rt();
    let err = |bytes: Vec<u8>, limits: Limits| {
        rt.block_on(read_bytes(bytes, limits))
            .unwrap_err()
            .to_string()
    };
    assert!(err(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        Limits::default()
    )
    .starts_with("not a tiersplit frame"));
    let mut v2 = good.clone();
    v2[4] = 1;
    assert_eq!(
        err(v2, Limits::default()),
        "peer speaks protocol version 1, this node speaks 2"
    );
    assert!(err(good[..good.len() - 3].to_vec(), Limits::default())
        .contains("closed the connection in the middle of a frame payload"));
    assert!(err(good[..10].to_vec(), Limits::default()).contains("in the middle of a frame header"));
    assert_eq!(
        err(
            good.clone(),
            Limits {
                max_payload: 8,
                ..Limits::default()
            }
        ),
        "frame of 16 bytes exceeds the limit of 8 bytes"
    );
    // A payload that does not match its shape.
    let lying = encoded(&Frame {
        kind: FrameKind::Tensor,
        session: 0,
        frame: 1,
        name: "x".into(),
        dtype: DType::F32,
        shape: vec![3],
        payload: vec![0; 4],
    });
    assert!(err(lying, Limits::default()).contains("needs 12"));
    let mut kind = good.clone();
    kind[6] = 9;
    assert!(err(kind, Limits::default()).contains("unknown frame kind 9"));
    // A clean close between frames is not an error.
    assert!(rt
        .block_on(read_bytes(vec![], Limits::default()))
        .unwrap()
        .is_none());
}

#[test]
fn a_silent_peer_times_out() {
    rt().block_on(async {
        let (_keep_open, mut b) = tokio::io::duplex(64);
        let e = read_frame(&mut b, Limits::default(), Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(e, NetError::Timeout(..)), "{e}");
        assert!(e.to_string().contains("waiting for a frame"));
        // A reader that never reads: the writer times out instead of blocking forever.
        let (mut a, _b) = tokio::io::duplex(1024);
        let f = Frame::tensor(1, "x", DType::U8, vec![1 << 20], vec![0; 1 << 20]);
        let e = write_frame(&mut a, &f, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(e, NetError::Timeout(..)), "{e}");
    });
}

#[test]
fn a_stalled_frame_is_cut_and_a_slow_one_is_not() {
    let f = Frame::tensor(1, "x", DType::U8, vec![1 << 16], vec![7; 1 << 16]);
    let bytes = encoded(&f);
    rt().block_on(async {
        let limits = Limits {
            stall: Duration::from_millis(100),
            ..Limits::default()
        };
        // Half a frame, then silence: cut after the stall bound.
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        a.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
        let e = read_frame(&mut b, limits, T).await.unwrap_err();
        assert!(e.to_string().contains("the rest of a frame"), "{e}");
        // The same frame in 16 pieces 30 ms apart, 480 ms in all, well over the 100 ms
        // bound: it arrives whole.
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let piece = bytes.len().div_ceil(16);
        let pieces: Vec<Vec<u8>> = bytes.chunks(piece).map(<[u8]>::to_vec).collect();
        tokio::spawn(async move {
            for p in pieces {
                a.write_all(&p).await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        let got = read_frame(&mut b, limits, T).await.unwrap().unwrap();
        assert_eq!(got, f);
        // A reader that takes a piece every 30 ms: the writer, bound to 100 ms per wait, is
        // not cut either.
        let (mut a, mut b) = tokio::io::duplex(piece);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut buf = vec![0u8; piece];
            loop {
                tokio::time::sleep(Duration::from_millis(30)).await;
                match tokio::io::AsyncReadExt::read(&mut b, &mut buf)
                    .await
                    .unwrap()
                {
                    0 => return all,
                    n => all.extend_from_slice(&buf[..n]),
                }
            }
        });
        write_frame(&mut a, &f, Duration::from_millis(100))
            .await
            .unwrap();
        drop(a);
        assert_eq!(reader.await.unwrap(), bytes);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_frame_round_trips(frame_no in any::<u64>(), name in "[a-z/._0-9]{0,40}", shape in prop::collection::vec(0u64..5, 0..5), kind in 0usize..2) {
        let dtype = [DType::F32, DType::I64][kind];
        let n: u64 = shape.iter().product();
        let payload: Vec<u8> = (0..n * dtype.size()).map(|i| i as u8).collect();
        let f = Frame::tensor(frame_no, &name, dtype, shape, payload);
        let bytes = encoded(&f);
        let back = rt().block_on(read_bytes(bytes, Limits::default())).unwrap().unwrap();
        prop_assert_eq!(back, f);
    }
}
