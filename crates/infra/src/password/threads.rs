//! The threads bcrypt runs on.
//!
//! Hashing must neither slow request handling nor wait for it forever. Idle-priority threads
//! (nice 19) hash whenever a core is free, but when request handling keeps every core busy
//! the kernel gives them almost nothing, and a login they took would wait until the load
//! ends. So one reserve thread at normal priority also hashes, held to a share of one core by
//! resting after each hash in proportion to the CPU time it took. It steps in only when the
//! idle threads fall behind: it runs again a job an idle-priority thread has held for longer
//! than a hash should take (the first result wins; running a job twice costs only what the
//! idle threads would not have been given anyway), and takes waiting jobs while the idle
//! threads have taken none for that long. While they keep up, it costs request handling
//! nothing.
//!
//! An idle-priority thread can be kept off the CPU for seconds at any instruction, so it must
//! never hold a lock that anyone else waits for: were it preempted inside, the waiter would
//! wait as long (priority inversion). Jobs and results therefore move through lock-free
//! queues, and threads sleep by parking. Only the reserve thread wakes callers, since waking
//! a task takes its runtime's locks.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use crossbeam_queue::SegQueue;
use thread_priority::{ThreadPriority, set_current_thread_priority};
use tokio::sync::oneshot;

use crate::error::InfraError;

/// Thread names, which tell the lanes apart in `top -H` and in tests.
const IDLE_NAME: &str = "bcrypt-idle";
const RESERVE_NAME: &str = "bcrypt-reserve";

/// A job as the threads see it.
trait Work: Send + Sync {
    /// Runs the job and keeps the result if no other run has kept one; true if this run's
    /// result is the one to deliver. Callers check [`Work::wanted`] first.
    fn compute(&self) -> bool;
    /// Sends the kept result, if there is one, to the caller.
    fn deliver(&self);
    /// Not yet computed, and the caller still waits (a dropped request needs no hash).
    fn wanted(&self) -> bool;
}

/// A function whose first result goes to the caller; it may be run more than once.
struct Answering<T, F> {
    work: F,
    computed: AtomicBool,
    /// Written once, by the run that set `computed`, before anyone reads it.
    result: Mutex<Option<T>>,
    answer: Mutex<Option<oneshot::Sender<T>>>,
}

impl<T, F> Answering<T, F> {
    /// A job not yet run, and where its answer arrives.
    fn new(work: F) -> (Self, oneshot::Receiver<T>) {
        let (answer, answered) = oneshot::channel();
        let job = Self {
            work,
            computed: AtomicBool::new(false),
            result: Mutex::new(None),
            answer: Mutex::new(Some(answer)),
        };
        (job, answered)
    }
}

impl<T: Send, F: Fn() -> T + Send + Sync> Work for Answering<T, F> {
    fn compute(&self) -> bool {
        let out = (self.work)();
        if self.computed.swap(true, Ordering::AcqRel) {
            return false;
        }
        *lock(&self.result) = Some(out);
        true
    }

    fn deliver(&self) {
        let Some(out) = lock(&self.result).take() else {
            return;
        };
        if let Some(answer) = lock(&self.answer).take() {
            let _ = answer.send(out);
        }
    }

    fn wanted(&self) -> bool {
        // Never waits: whoever holds the lock is delivering, so the job is as good as done.
        !self.computed.load(Ordering::Acquire)
            && self
                .answer
                .try_lock()
                .is_ok_and(|answer| answer.as_ref().is_some_and(|a| !a.is_closed()))
    }
}

type Job = Arc<dyn Work>;

struct Shared {
    waiting: SegQueue<Job>,
    /// Jobs an idle-priority thread started, with when; only the reserve takes them out.
    held: SegQueue<(Instant, Job)>,
    /// Jobs an idle-priority thread is done with, for the reserve to deliver the result of
    /// (if it computed one) and drop.
    finished: SegQueue<Job>,
    /// How many jobs the idle-priority threads have taken from `waiting`.
    taken: AtomicU64,
    closed: AtomicBool,
    /// The reserve's share of one core; `None`: it only delivers.
    reserve_share: Option<f64>,
    patience: Duration,
}

/// How many threads of each kind, and how the reserve behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lanes {
    /// Idle-priority threads (at least one).
    pub idle: usize,
    /// The reserve's share of one core, in (0, 1]; `None`: it only delivers results.
    pub reserve_share: Option<f64>,
    /// How long an idle-priority thread may hold a job, or the idle threads leave jobs
    /// waiting, before the reserve steps in.
    pub patience: Duration,
}

/// The hashing threads; they stop when this is dropped, after the job each is running.
pub(crate) struct HashingThreads {
    shared: Arc<Shared>,
    threads: Vec<Thread>,
}

impl std::fmt::Debug for HashingThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingThreads")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl HashingThreads {
    pub(crate) fn start(lanes: Lanes) -> Result<Self, InfraError> {
        let shared = Arc::new(Shared {
            waiting: SegQueue::new(),
            held: SegQueue::new(),
            finished: SegQueue::new(),
            taken: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            reserve_share: lanes.reserve_share,
            patience: lanes.patience,
        });
        let reserve = {
            let shared = shared.clone();
            spawn(RESERVE_NAME.to_owned(), move || run_reserve(&shared))?
        };
        let mut threads = vec![reserve.clone()];
        for n in 0..lanes.idle.max(1) {
            let (shared, reserve) = (shared.clone(), reserve.clone());
            threads.push(spawn(format!("{IDLE_NAME}-{n}"), move || {
                run_idle(&shared, &reserve)
            })?);
        }
        Ok(Self { shared, threads })
    }

    /// Runs `work` on a hashing thread and waits for its first result. `work` may run twice,
    /// so it must not have side effects beyond its result.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, HashingStopped>
    where
        T: Send + 'static,
        F: Fn() -> T + Send + Sync + 'static,
    {
        let (job, answered) = Answering::new(work);
        self.shared.waiting.push(Arc::new(job));
        for thread in &self.threads {
            thread.unpark();
        }
        // Dropped unanswered only if every run of it panicked.
        answered.await.map_err(|_| HashingStopped)
    }
}

impl Drop for HashingThreads {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        for thread in &self.threads {
            thread.unpark();
        }
    }
}

/// The job got no answer: it panicked, or the threads are gone.
#[derive(Debug)]
pub(crate) struct HashingStopped;

fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<Thread, InfraError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(body)
        .map(|handle| handle.thread().clone())
        .map_err(|e| InfraError::Config(format!("cannot start a hashing thread: {e}")))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs a job; a panicking one loses this run's result (the caller gets an error once no run
/// is left), not the thread.
fn compute(job: &Job) -> bool {
    catch_unwind(AssertUnwindSafe(|| job.compute())).unwrap_or(false)
}

fn run_idle(shared: &Shared, reserve: &Thread) {
    // Lowering one's own priority needs no privilege; if it fails, hashing still works.
    if let Err(err) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::warn!(error = ?err, "cannot lower the hashing thread's priority");
    }
    while !shared.closed.load(Ordering::Acquire) {
        let Some(job) = shared.waiting.pop() else {
            // An unpark since the queue was found empty makes this return at once.
            std::thread::park();
            continue;
        };
        shared.taken.fetch_add(1, Ordering::AcqRel);
        let delivers = job.wanted() && {
            if shared.reserve_share.is_some() {
                shared.held.push((Instant::now(), job.clone()));
                reserve.unpark();
            }
            compute(&job)
        };
        // Even with nothing to deliver, the reserve drops it: dropping the last reference
        // frees what the request handler allocated, and freeing can take that thread's
        // allocator lock.
        shared.finished.push(job);
        if delivers {
            reserve.unpark();
        }
    }
}

fn run_reserve(shared: &Shared) {
    let mut held: Vec<(Instant, Job)> = Vec::new();
    let mut resting_until: Option<Instant> = None;
    // Since when jobs have been waiting while the idle threads took none, and how many they
    // had taken by then.
    let mut stuck_since: Option<(Instant, u64)> = None;
    while !shared.closed.load(Ordering::Acquire) {
        while let Some(job) = shared.finished.pop() {
            job.deliver();
        }
        while let Some(started) = shared.held.pop() {
            held.push(started);
        }
        held.retain(|(_, job)| job.wanted());
        let now = Instant::now();
        let taken = shared.taken.load(Ordering::Acquire);
        stuck_since = match stuck_since {
            _ if shared.waiting.is_empty() => None,
            Some((since, seen)) if seen == taken => Some((since, seen)),
            _ => Some((now, taken)),
        };
        if let Some(until) = resting_until.filter(|until| *until > now) {
            std::thread::park_timeout(until - now);
            continue;
        }
        resting_until = None;
        let Some(share) = shared.reserve_share else {
            std::thread::park();
            continue;
        };
        // Only when the idle threads fall behind: while they keep up, hashing costs request
        // handling nothing.
        let due = |since: Instant| now.duration_since(since) >= shared.patience;
        // The longest-held job was queued before anything still waiting.
        let overdue = held
            .iter()
            .enumerate()
            .filter(|(_, (started, _))| due(*started))
            .min_by_key(|(_, (started, _))| *started)
            .map(|(at, _)| at);
        let job = match overdue {
            Some(at) => Some(held.swap_remove(at).1),
            None if stuck_since.is_some_and(|(since, _)| due(since)) => shared.waiting.pop(),
            None => None,
        };
        let Some(job) = job else {
            let first = held
                .iter()
                .map(|(started, _)| *started)
                .chain(stuck_since.map(|(since, _)| since))
                .min();
            match first {
                Some(first) => std::thread::park_timeout(
                    (first + shared.patience).saturating_duration_since(now),
                ),
                None => std::thread::park(),
            }
            continue;
        };
        if !job.wanted() {
            continue;
        }
        let (cpu, wall) = (ThreadTime::try_now().ok(), Instant::now());
        if compute(&job) {
            job.deliver();
        }
        let wall = wall.elapsed();
        // Where the thread's CPU time cannot be read, its wall time bounds it from above.
        let used = cpu
            .and_then(|start| start.try_elapsed().ok())
            .unwrap_or(wall);
        resting_until = Some(Instant::now() + rest_after(used, wall, share));
    }
}

/// How long the reserve rests after a job that took `used` CPU time over `wall`, so that
/// from the job's start to the end of the rest it used no more than `share` of a core.
fn rest_after(used: Duration, wall: Duration, share: f64) -> Duration {
    used.div_f64(share).saturating_sub(wall)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    use super::*;

    fn lanes(reserve_share: Option<f64>) -> Lanes {
        Lanes {
            idle: 1,
            reserve_share,
            patience: Duration::from_millis(20),
        }
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    /// The nice value of the calling thread, from `/proc/thread-self/stat`.
    #[cfg(target_os = "linux")]
    fn nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("readable");
        // Fields after the command name, which ends with the last ')'; nice is the 19th.
        stat[stat.rfind(')').expect("comm") + 2..]
            .split(' ')
            .nth(16)
            .expect("nice field")
            .parse()
            .expect("a number")
    }

    /// Holds every idle-priority thread on its job until dropped, as a machine whose cores
    /// request handling keeps busy would.
    struct Starved {
        release: Mutex<Option<mpsc::Sender<()>>>,
        wait: Mutex<mpsc::Receiver<()>>,
    }

    impl Starved {
        fn new() -> Arc<Self> {
            let (release, wait) = mpsc::channel();
            Arc::new(Self {
                release: Mutex::new(Some(release)),
                wait: Mutex::new(wait),
            })
        }

        /// Blocks if called on an idle-priority thread.
        fn stall_if_idle(&self) {
            if thread_name().starts_with(IDLE_NAME) {
                let _ = lock(&self.wait).recv();
            }
        }

        fn end(&self) {
            lock(&self.release).take();
        }
    }

    #[test]
    fn the_reserve_rests_in_proportion_to_the_cpu_it_used() {
        let ms = Duration::from_millis;
        assert_eq!(rest_after(ms(100), ms(100), 0.25), ms(300));
        // Already slowed by contention to four times its CPU time: no rest.
        assert_eq!(rest_after(ms(100), ms(400), 0.25), Duration::ZERO);
        assert_eq!(rest_after(ms(100), ms(250), 0.25), ms(150));
        assert_eq!(rest_after(ms(100), ms(100), 1.0), Duration::ZERO);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_job_an_idle_thread_cannot_finish_is_answered_by_the_reserve() {
        let threads = HashingThreads::start(lanes(Some(1.0))).expect("started");
        let starved = Starved::new();
        let mut answers = Vec::new();
        for _ in 0..3 {
            let starved = starved.clone();
            let job = threads.run(move || {
                starved.stall_if_idle();
                (thread_name(), nice())
            });
            // Without the reserve this would wait for as long as the idle thread is held.
            let answer = tokio::time::timeout(Duration::from_secs(10), job)
                .await
                .expect("answered while the idle thread is held");
            answers.push(answer.expect("answered"));
        }
        starved.end();
        for (name, reserve_nice) in answers {
            assert_eq!(name, RESERVE_NAME);
            assert_eq!(
                reserve_nice,
                nice(),
                "the reserve keeps the process's priority"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn without_a_reserve_only_idle_priority_threads_hash() {
        let threads = HashingThreads::start(lanes(None)).expect("started");
        let (name, nice) = threads
            .run(|| (thread_name(), nice()))
            .await
            .expect("answered");
        assert!(name.starts_with(IDLE_NAME), "{name}");
        assert_eq!(nice, 19);
    }

    #[tokio::test]
    async fn while_the_idle_threads_keep_up_the_reserve_leaves_the_jobs_to_them() {
        let threads = HashingThreads::start(Lanes {
            patience: Duration::from_secs(3600),
            ..lanes(Some(1.0))
        })
        .expect("started");
        for _ in 0..5 {
            let name = threads.run(thread_name).await.expect("answered");
            assert!(name.starts_with(IDLE_NAME), "{name}");
        }
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_not_run() {
        let threads = HashingThreads::start(lanes(None)).expect("started");
        let starved = Starved::new();
        let holding = {
            let starved = starved.clone();
            threads.run(move || starved.stall_if_idle())
        };
        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = {
            let ran = ran.clone();
            threads.run(move || ran.store(true, Ordering::SeqCst))
        };
        // Queue both, then give up on the second while the only thread is held by the first.
        let mut holding = Box::pin(holding);
        let mut abandoned = Box::pin(abandoned);
        assert!(futures_poll_once(holding.as_mut()).await.is_none());
        assert!(futures_poll_once(abandoned.as_mut()).await.is_none());
        drop(abandoned);
        starved.end();
        holding.await.expect("answered");
        threads.run(|| ()).await.expect("answered");
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[test]
    fn computing_keeps_the_first_result_and_only_delivering_answers() {
        let (job, mut answered) = Answering::new(|| 7);
        assert!(job.wanted());
        assert!(job.compute());
        // An idle-priority thread computed it: the caller is not woken from there.
        assert!(answered.try_recv().is_err());
        assert!(!job.wanted());
        assert!(!job.compute(), "a second run's result is dropped");
        job.deliver();
        assert_eq!(answered.try_recv().expect("delivered"), 7);
    }

    #[test]
    fn a_job_whose_caller_is_gone_is_not_wanted() {
        let (job, answered) = Answering::new(|| ());
        drop(answered);
        assert!(!job.wanted());
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let threads = HashingThreads::start(lanes(Some(1.0))).expect("started");
        // Unwinds without the panic hook, whose backtrace (RUST_BACKTRACE=1) a debug build
        // takes minutes to symbolize on an idle-priority thread.
        let failing = || std::panic::resume_unwind(Box::new("bad job"));
        assert!(threads.run(failing).await.is_err());
        assert_eq!(threads.run(|| 7).await.expect("answered"), 7);
    }

    /// Polls a future once, so that it queues its job, without waiting for it.
    async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::ZERO, future).await.ok()
    }
}
