use crate::protocol::{content_hash, frame_tensor, tensor_frame, Deployed, RunDone, RunRequest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiersplit_exec::{Executor, LoadedModel, TractExecutor};
use tiersplit_net::{read_frame, write_frame, Frame, FrameKind, Limits, NetError};
use tokio::net::{TcpListener, TcpStream};

/// A node that runs partitions for others.
#[derive(Clone)]
pub struct Worker {
    pub name: String,
    /// Deployed models by content hash, shared by all connections.
    models: Arc<Mutex<HashMap<String, Arc<dyn LoadedModel>>>>,
    /// Bound on waiting for the next frame of a request in progress.
    pub io_timeout: Duration,
    /// Bound on an idle connection (no request) before the worker drops it.
    pub idle_timeout: Duration,
}

impl Worker {
    pub fn new(name: &str) -> Worker {
        Worker {
            name: name.into(),
            models: Default::default(),
            io_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
        }
    }

    /// Serves connections until the listener fails.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.connection(stream).await {
                    eprintln!("worker {}: connection ended: {e}", me.name);
                }
            });
        }
    }

    async fn connection(&self, mut s: TcpStream) -> Result<(), NetError> {
        // Deployed parts of this connection: part name -> model.
        let mut parts: HashMap<String, Arc<dyn LoadedModel>> = HashMap::new();
        while let Some(f) = read_frame(&mut s, Limits::default(), self.idle_timeout).await? {
            match f.kind {
                FrameKind::Blob => {
                    let key = content_hash(&f.payload);
                    let cached = self.models.lock().expect("not poisoned").get(&key).cloned();
                    let (model, was_cached) = match cached {
                        Some(m) => (Ok(m), true),
                        None => {
                            let bytes = f.payload;
                            let loaded = tokio::task::spawn_blocking(move || {
                                TractExecutor
                                    .load(&bytes, &[])
                                    .map(Arc::<dyn LoadedModel>::from)
                            })
                            .await
                            .map_err(|e| NetError::Malformed(format!("loader panicked: {e}")))?;
                            (loaded, false)
                        }
                    };
                    match model {
                        Ok(m) => {
                            self.models
                                .lock()
                                .expect("not poisoned")
                                .insert(key, m.clone());
                            let reply = Deployed {
                                part: f.name.clone(),
                                inputs: m.input_names().to_vec(),
                                outputs: m.output_names().to_vec(),
                                cached: was_cached,
                            };
                            parts.insert(f.name.clone(), m);
                            write_frame(
                                &mut s,
                                &Frame::control(
                                    f.frame,
                                    &f.name,
                                    serde_json::to_string(&reply).expect("serialisable"),
                                ),
                                self.io_timeout,
                            )
                            .await?;
                        }
                        Err(e) => {
                            write_frame(
                                &mut s,
                                &Frame::error(f.frame, &f.name, &e.to_string()),
                                self.io_timeout,
                            )
                            .await?
                        }
                    }
                }
                FrameKind::Control => {
                    let req: RunRequest = serde_json::from_slice(&f.payload)
                        .map_err(|e| NetError::Malformed(format!("bad run request: {e}")))?;
                    let mut inputs = HashMap::new();
                    for _ in 0..req.inputs {
                        let t = read_frame(&mut s, Limits::default(), self.io_timeout)
                            .await?
                            .ok_or(NetError::Closed("in the middle of a request"))?;
                        inputs.insert(t.name.clone(), frame_tensor(&t)?);
                    }
                    let Some(model) = parts.get(&req.part).cloned() else {
                        write_frame(
                            &mut s,
                            &Frame::error(
                                f.frame,
                                &req.part,
                                &format!("part '{}' is not deployed on {}", req.part, self.name),
                            ),
                            self.io_timeout,
                        )
                        .await?;
                        continue;
                    };
                    let args: Result<Vec<_>, String> = model
                        .input_names()
                        .iter()
                        .map(|n| {
                            inputs.remove(n).ok_or_else(|| {
                                format!("input '{n}' of part '{}' was not sent", req.part)
                            })
                        })
                        .collect();
                    let result = match args {
                        Err(e) => Err(e),
                        Ok(args) => {
                            let m = model.clone();
                            tokio::task::spawn_blocking(move || {
                                let start = Instant::now();
                                m.run(args)
                                    .map(|o| (o, start.elapsed()))
                                    .map_err(|e| e.to_string())
                            })
                            .await
                            .map_err(|e| NetError::Malformed(format!("engine panicked: {e}")))?
                        }
                    };
                    match result {
                        Ok((outs, took)) => {
                            for (name, t) in model.output_names().iter().zip(&outs) {
                                write_frame(
                                    &mut s,
                                    &tensor_frame(f.frame, name, t),
                                    self.io_timeout,
                                )
                                .await?;
                            }
                            let done = RunDone {
                                outputs: outs.len(),
                                compute_us: took.as_micros() as u64,
                            };
                            write_frame(
                                &mut s,
                                &Frame::control(
                                    f.frame,
                                    &req.part,
                                    serde_json::to_string(&done).expect("serialisable"),
                                ),
                                self.io_timeout,
                            )
                            .await?;
                        }
                        Err(e) => {
                            write_frame(
                                &mut s,
                                &Frame::error(f.frame, &req.part, &e),
                                self.io_timeout,
                            )
                            .await?
                        }
                    }
                }
                FrameKind::Ping => {
                    write_frame(
                        &mut s,
                        &Frame {
                            kind: FrameKind::Ping,
                            ..f
                        },
                        self.io_timeout,
                    )
                    .await?
                }
                other => return Err(NetError::Malformed(format!("unexpected {other:?} frame"))),
            }
        }
        Ok(())
    }
}
