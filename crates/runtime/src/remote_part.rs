use crate::protocol::{frame_tensor, tensor_frame, Deployed, RunDone, RunRequest};
use crate::RuntimeError;
use std::time::Duration;
use tiersplit_exec::HostTensor;
use tiersplit_net::{read_frame, write_frame, Frame, FrameKind, Limits};
use tokio::net::TcpStream;

/// One partition deployed on one worker, driven from the device.
pub struct RemotePart {
    pub worker: String,
    pub part: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Whether the worker already had this model (content-hash cache hit).
    pub cached: bool,
    stream: TcpStream,
    timeout: Duration,
}

impl RemotePart {
    /// Connects to `addr` and deploys `onnx` as `part`, all within `timeout`.
    pub async fn deploy(
        addr: &str,
        part: &str,
        onnx: Vec<u8>,
        timeout: Duration,
    ) -> Result<RemotePart, RuntimeError> {
        let worker = addr.to_string();
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| RuntimeError::Connect {
                worker: worker.clone(),
                message: format!("no answer within {timeout:?}"),
            })?
            .map_err(|e| RuntimeError::Connect {
                worker: worker.clone(),
                message: e.to_string(),
            })?;
        stream
            .set_nodelay(true)
            .map_err(|e| RuntimeError::Connect {
                worker: worker.clone(),
                message: e.to_string(),
            })?;
        let mut me = RemotePart {
            worker,
            part: part.into(),
            inputs: vec![],
            outputs: vec![],
            cached: false,
            stream,
            timeout,
        };
        me.send(&Frame::blob(0, part, onnx)).await?;
        let reply = me.receive().await?;
        let d: Deployed = serde_json::from_slice(&reply.payload)
            .map_err(|e| me.protocol(format!("bad deploy reply: {e}")))?;
        (me.inputs, me.outputs, me.cached) = (d.inputs, d.outputs, d.cached);
        Ok(me)
    }

    fn protocol(&self, message: String) -> RuntimeError {
        RuntimeError::Protocol {
            worker: self.worker.clone(),
            message,
        }
    }

    async fn send(&mut self, f: &Frame) -> Result<(), RuntimeError> {
        write_frame(&mut self.stream, f, self.timeout)
            .await
            .map_err(|source| RuntimeError::Net {
                worker: self.worker.clone(),
                source,
            })
    }

    /// The next frame; an error frame from the worker becomes an error.
    async fn receive(&mut self) -> Result<Frame, RuntimeError> {
        let f = read_frame(&mut self.stream, Limits::default(), self.timeout)
            .await
            .map_err(|source| RuntimeError::Net {
                worker: self.worker.clone(),
                source,
            })?
            .ok_or_else(|| RuntimeError::Closed {
                worker: self.worker.clone(),
            })?;
        if f.kind == FrameKind::Error {
            return Err(RuntimeError::Remote {
                worker: self.worker.clone(),
                message: String::from_utf8_lossy(&f.payload).into_owned(),
            });
        }
        Ok(f)
    }

    /// Runs frame `frame` on the worker: sends the named inputs, returns the outputs in
    /// `self.outputs` order and the worker's compute time.
    pub async fn run(
        &mut self,
        frame: u64,
        inputs: &[(String, HostTensor)],
    ) -> Result<(Vec<HostTensor>, Duration), RuntimeError> {
        let needed: Vec<&(String, HostTensor)> = self
            .inputs
            .iter()
            .filter_map(|n| inputs.iter().find(|(k, _)| k == n))
            .collect();
        if needed.len() != self.inputs.len() {
            return Err(self.protocol(format!("part {} needs inputs {:?}", self.part, self.inputs)));
        }
        let req = RunRequest {
            part: self.part.clone(),
            inputs: needed.len(),
        };
        self.send(&Frame::control(
            frame,
            &self.part.clone(),
            serde_json::to_string(&req).expect("serialisable"),
        ))
        .await?;
        for (name, t) in needed {
            self.send(&tensor_frame(frame, name, t)).await?;
        }
        let mut outs = Vec::with_capacity(self.outputs.len());
        for _ in 0..self.outputs.len() {
            let f = self.receive().await?;
            if f.frame != frame {
                return Err(self.protocol(format!(
                    "answer for frame {} while waiting for {frame}",
                    f.frame
                )));
            }
            outs.push(frame_tensor(&f).map_err(|e| self.protocol(e.to_string()))?);
        }
        let done = self.receive().await?;
        let d: RunDone = serde_json::from_slice(&done.payload)
            .map_err(|e| self.protocol(format!("bad completion: {e}")))?;
        Ok((outs, Duration::from_micros(d.compute_us)))
    }
}
