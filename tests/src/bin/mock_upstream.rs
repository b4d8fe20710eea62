//! Runs the mock upstream (all four wire formats) as a process: `mock-upstream [--port P] [--quiet]`; prints its base URL.

use omniroute_tests::mock::MockUpstream;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let quiet = args.iter().any(|a| a == "--quiet");
    let mock = MockUpstream::start_with(true, quiet, port).await;
    println!("{}", mock.base_url());
    let _ = tokio::signal::ctrl_c().await;
}
