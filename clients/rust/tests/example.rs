//! The seed's example: mio's README TcpListener/TcpStream loop
//! (examples/tcp_connect.rs) run against the daemon.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::TestDaemon;

/// The example's binary: cargo test builds examples beside the test
/// binaries (target/PROFILE/examples); built here if missing.
fn example(name: &str) -> PathBuf {
    let profile_dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let binary = profile_dir.join("examples").join(name);
    if !binary.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--offline", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example");
        assert!(status.success());
    }
    binary
}

#[test]
fn mios_readme_example_runs_against_the_daemon() {
    let daemon = TestDaemon::start();
    let mut child = Command::new(example("tcp_connect"))
        .env("MIO_SOCKET", &daemon.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the example did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "exit {}: {stdout}{}", output.status, String::from_utf8_lossy(&output.stderr));
    for expected in ["server: accepted 127.0.0.1:", "client: connected to 127.0.0.1:", "client: the server closed the connection", "done"] {
        assert!(stdout.contains(expected), "{expected:?} missing from:\n{stdout}");
    }
    daemon.finish();
}
