//! Threads that serve connections, each running an executor of its own: a
//! connection, and the producer its handler starts with [`spawn`],
//! stay on one thread, so a token goes from the producer to its response without
//! waking another thread.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use smol::channel::{Receiver, Sender};
use smol::{Executor, Task};

thread_local! {
    /// The executor of the worker this thread is, if it is one.
    static WORKER: RefCell<Option<Arc<Executor<'static>>>> = const { RefCell::new(None) };
}

/// Spawns `future` on the thread of the connection being served, when called from
/// a [`Server`](crate::Server)'s worker (in a handler), or on smol's global
/// executor elsewhere: start a request's producer with it, so that the producer
/// and the response it feeds run side by side.
///
/// ```
/// let task = sse_smol::spawn(async { 1 + 1 });
/// assert_eq!(smol::block_on(task), 2);
/// ```
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    match WORKER.with(|worker| worker.borrow().clone()) {
        Some(executor) => executor.spawn(future),
        None => smol::spawn(future),
    }
}

/// The worker threads of one server; dropping them stops their executors and
/// drops the connections still open on them.
pub(crate) struct Workers {
    executors: Vec<Arc<Executor<'static>>>,
    /// Closed when the workers are dropped: each worker's executor stops.
    _stop: Sender<()>,
    next: usize,
}

impl Workers {
    /// Starts `threads` workers; fewer when the system refuses a thread, none for
    /// `0` (connections then run on smol's global executor).
    pub(crate) fn start(threads: usize) -> Workers {
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let mut executors = Vec::with_capacity(threads);
        for index in 0..threads {
            let executor = Arc::new(Executor::new());
            let worker = Arc::clone(&executor);
            let stopped: Receiver<()> = stopped.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sse-smol-{index}"))
                .spawn(move || {
                    WORKER.with(|current| *current.borrow_mut() = Some(Arc::clone(&worker)));
                    let _ = smol::block_on(worker.run(stopped.recv()));
                    // Drops the tasks still running here, on this thread.
                    WORKER.with(|current| current.borrow_mut().take());
                });
            if spawned.is_err() {
                break;
            }
            executors.push(executor);
        }
        Workers {
            executors,
            _stop: stop,
            next: 0,
        }
    }

    /// Runs `task` on the next worker in turn, or on smol's global executor when
    /// there is none.
    pub(crate) fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        let Some(executor) = self.executors.get(self.next) else {
            smol::spawn(task).detach();
            return;
        };
        executor.spawn(task).detach();
        self.next = (self.next + 1) % self.executors.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the thread `spawn` runs a task on, from a task on `workers`.
    fn spawned_from(workers: &mut Workers) -> Option<String> {
        let (sender, receiver) = smol::channel::bounded(1);
        workers.spawn(async move {
            let inner = spawn(async { std::thread::current().name().map(str::to_owned) });
            let _ = sender.send(inner.await).await;
        });
        smol::block_on(receiver.recv()).unwrap()
    }

    #[test]
    fn tasks_run_on_the_workers_in_turn_and_spawn_beside_themselves() {
        let mut workers = Workers::start(2);
        let names: Vec<_> = (0..4).map(|_| spawned_from(&mut workers)).collect();
        let names: Vec<_> = names.iter().map(Option::as_deref).collect();
        assert_eq!(
            names,
            [
                Some("sse-smol-0"),
                Some("sse-smol-1"),
                Some("sse-smol-0"),
                Some("sse-smol-1")
            ]
        );

        // A task still running when the workers are dropped is dropped with them.
        let (held, released) = smol::channel::bounded::<()>(1);
        workers.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        drop(workers);
        assert!(smol::block_on(released.recv()).is_err());
    }

    #[test]
    fn elsewhere_tasks_run_on_the_global_executor() {
        let mut workers = Workers::start(0);
        let name = spawned_from(&mut workers);
        assert_ne!(name.as_deref(), Some("sse-smol-0"));
    }
}
