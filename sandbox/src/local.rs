//! Workers as threads in the trainer's process: no isolation, no copies beyond a channel.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::rollout::{Rollout, RolloutRequest, RolloutWorker, WorkerSpec};
use crate::{WorkerError, Workers};

enum Command {
    Publish(u64, Arc<Vec<u8>>),
    Collect(RolloutRequest),
}

enum Reply {
    Published(Result<(), WorkerError>),
    Rollout(Box<Result<Rollout, WorkerError>>),
}

struct Thread {
    commands: Sender<Command>,
    replies: Receiver<Reply>,
    handle: Option<JoinHandle<()>>,
}

/// `n` workers, each a thread with its own `VecEnv`.
pub struct LocalWorkers {
    threads: Vec<Thread>,
}

impl LocalWorkers {
    /// Starts `n` workers; fails if any cannot build its environments.
    pub fn new(spec: &WorkerSpec, n: usize) -> Result<LocalWorkers, WorkerError> {
        let mut threads = Vec::with_capacity(n);
        for id in 0..n {
            // Build in the caller's thread so set-up errors surface here, then hand over.
            let mut worker = RolloutWorker::new(id, spec)?;
            let (commands, inbox) = channel::<Command>();
            let (outbox, replies) = channel::<Reply>();
            let handle = std::thread::Builder::new()
                .name(format!("paddock-worker-{id}"))
                .spawn(move || {
                    for command in inbox {
                        let reply = match command {
                            Command::Publish(version, model) => Reply::Published(worker.set_policy(version, &model)),
                            Command::Collect(request) => Reply::Rollout(Box::new(worker.run(&request))),
                        };
                        if outbox.send(reply).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| WorkerError::Setup { worker: id, message: e.to_string() })?;
            threads.push(Thread { commands, replies, handle: Some(handle) });
        }
        Ok(LocalWorkers { threads })
    }

    fn ask(&self, command: impl Fn() -> Command) -> Vec<Result<Reply, WorkerError>> {
        let sent: Vec<bool> = self.threads.iter().map(|t| t.commands.send(command()).is_ok()).collect();
        self.threads
            .iter()
            .zip(sent)
            .enumerate()
            .map(|(id, (t, ok))| if ok { t.replies.recv().map_err(|_| WorkerError::Died { worker: id }) } else { Err(WorkerError::Died { worker: id }) })
            .collect()
    }
}

impl Workers for LocalWorkers {
    fn publish(&mut self, version: u64, model: Arc<Vec<u8>>) -> Result<(), WorkerError> {
        for reply in self.ask(|| Command::Publish(version, model.clone())) {
            match reply? {
                Reply::Published(r) => r?,
                Reply::Rollout(_) => unreachable!("replies come in order"),
            }
        }
        Ok(())
    }

    fn collect(&mut self, request: &RolloutRequest) -> Result<Vec<Rollout>, WorkerError> {
        self.ask(|| Command::Collect(request.clone()))
            .into_iter()
            .map(|reply| match reply? {
                Reply::Rollout(r) => *r,
                Reply::Published(_) => unreachable!("replies come in order"),
            })
            .collect()
    }

    fn len(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for LocalWorkers {
    fn drop(&mut self) {
        for t in &mut self.threads {
            // Closing the channel ends the thread's loop.
            let (dead, _) = channel();
            t.commands = dead;
            if let Some(h) = t.handle.take() {
                let _ = h.join();
            }
        }
    }
}
