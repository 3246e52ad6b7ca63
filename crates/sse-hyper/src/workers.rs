//! Threads that serve connections, each a tokio runtime of its own with one worker
//! thread (thread per core, as actix-web runs): a connection, the producers its
//! handler spawns and the tasks they wake stay on one thread, so handing a token
//! from a producer to its response takes no cross-thread wake, and no worker
//! parks and unparks another to steal work around every token. Each runtime is
//! tokio's multi-threaded one with a single worker rather than its current-thread
//! one: a task woken from another thread (a hub's fan-out) wakes a parked worker
//! once for the whole batch, where the current-thread runtime writes to its
//! eventfd for every such task.

use std::future::Future;
use std::io;

use tokio::net::TcpStream;
use tokio::runtime::{Builder, Runtime};

/// The runtimes of one server; dropping them shuts them down, with the
/// connections still open on them.
pub(crate) struct Workers {
    runtimes: Vec<Runtime>,
    next: usize,
}

impl Workers {
    /// Starts `threads` workers; fewer when the system refuses a thread or a
    /// runtime, none for `0` (connections then run on the caller's runtime).
    pub(crate) fn start(threads: usize) -> Workers {
        let runtimes = (0..threads)
            .map_while(|index| {
                Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(format!("sse-hyper-{index}"))
                    .enable_all()
                    .build()
                    .ok()
            })
            .collect();
        Workers { runtimes, next: 0 }
    }

    /// Readies a connection accepted on the caller's runtime for the task that
    /// will serve it: as it is when that task runs there too; as a plain socket
    /// for a worker, which registers it with its own runtime's reactor
    /// ([`Connection::register`]), so its readiness wakes that thread alone.
    pub(crate) fn hand_over(&self, tcp: TcpStream) -> io::Result<Connection> {
        if self.runtimes.is_empty() {
            Ok(Connection::Registered(tcp))
        } else {
            tcp.into_std().map(Connection::Plain)
        }
    }

    /// Runs `task` on the next worker in turn, or on the caller's runtime when
    /// there is none.
    pub(crate) fn spawn<F>(&mut self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(runtime) = self.runtimes.get(self.next) else {
            tokio::spawn(task);
            return;
        };
        runtime.spawn(task);
        self.next = (self.next + 1) % self.runtimes.len();
    }
}

/// A connection on its way to the task that serves it ([`Workers::hand_over`]).
pub(crate) enum Connection {
    /// Registered with the caller's runtime, where it is served.
    Registered(TcpStream),
    /// Deregistered, for a worker's runtime to register.
    Plain(std::net::TcpStream),
}

impl Connection {
    /// The connection, registered with the runtime of the task calling this.
    pub(crate) fn register(self) -> io::Result<TcpStream> {
        match self {
            Connection::Registered(tcp) => Ok(tcp),
            Connection::Plain(tcp) => TcpStream::from_std(tcp),
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Without waiting: the server may be dropped inside another runtime.
        for runtime in self.runtimes.drain(..) {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::sync::oneshot;

    #[tokio::test]
    async fn tasks_run_on_the_workers_in_turn_and_end_with_them() {
        let mut workers = Workers::start(2);
        assert_eq!(workers.runtimes.len(), 2);
        let mut names = Vec::new();
        for _ in 0..4 {
            let (sender, name) = oneshot::channel();
            workers.spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = sender.send(name);
            });
            names.push(name.await.unwrap());
        }
        let names: Vec<_> = names.iter().map(|name| name.as_deref()).collect();
        assert_eq!(
            names,
            [
                Some("sse-hyper-0"),
                Some("sse-hyper-1"),
                Some("sse-hyper-0"),
                Some("sse-hyper-1")
            ]
        );

        // A task still running when the workers are dropped is dropped with them.
        let (held, released) = oneshot::channel::<()>();
        workers.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        drop(workers);
        assert!(released.await.is_err());
    }

    #[tokio::test]
    async fn without_workers_tasks_run_on_the_callers_runtime() {
        let mut workers = Workers::start(0);
        let (sender, ran) = oneshot::channel();
        let caller = std::thread::current().id();
        workers.spawn(async move {
            let _ = sender.send(std::thread::current().id());
        });
        assert_eq!(ran.await.unwrap(), caller);
    }
}
