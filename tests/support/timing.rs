//! Comparing how long two kinds of request take, for the properties that are about time.

use super::*;

/// The medians, in milliseconds, of `rounds` timings of `first` and of `second`, taken in
/// turn, so that any drift of the machine hits both alike. After each `first`, and untimed,
/// `settled` waits for what the server does after that response, so that it cannot slow the
/// next `second` instead; then, as after each `second`, a pause lets the server (and the
/// test's own checks) go quiet, so that each timed request starts alike. A few rounds go
/// first untimed, to warm connections and statements.
pub async fn median_timings<F, S, G, FutF, FutS, FutG>(
    rounds: usize,
    mut first: F,
    mut settled: S,
    mut second: G,
) -> (f64, f64)
where
    F: FnMut() -> FutF,
    S: FnMut() -> FutS,
    G: FnMut() -> FutG,
    FutF: std::future::Future<Output = ()>,
    FutS: std::future::Future<Output = ()>,
    FutG: std::future::Future<Output = ()>,
{
    let median = |mut samples: Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds + 5 {
        let started = std::time::Instant::now();
        first().await;
        let first_took = started.elapsed().as_secs_f64() * 1000.0;
        settled().await;
        tokio::time::sleep(Duration::from_millis(25)).await;
        let started = std::time::Instant::now();
        second().await;
        let second_took = started.elapsed().as_secs_f64() * 1000.0;
        tokio::time::sleep(Duration::from_millis(25)).await;
        if round >= 5 {
            a.push(first_took);
            b.push(second_took);
        }
    }
    (median(a), median(b))
}

/// Asserts that two medians (see [`median_timings`]) are no further apart than 1 ms and 15%
/// of the larger: what a client can measure of a difference in the work behind two answers.
pub fn assert_alike_in_time(what: &str, first: f64, second: f64) {
    let allowed = 1.0 + 0.15 * first.max(second);
    assert!(
        (first - second).abs() <= allowed,
        "{what}: medians {first:.2} ms and {second:.2} ms are more than {allowed:.2} ms apart"
    );
}
