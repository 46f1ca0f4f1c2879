//! The default socket lookup (protocol §2.1) end to end: a daemon started
//! where the lookup points, found by `Poll::connect()`. One test in its own
//! binary, since it changes this process's environment.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use mio_daemon_client::{default_socket_path, Poll};
use support::{daemon_binary, is_socket, TempDir, TestDaemon};

/// A daemon started without `--socket`, with `env`, expected at `expected`.
fn daemon_at_its_default(expected: &Path, env: &[(&str, &Path)]) -> TestDaemon {
    let mut command = Command::new(daemon_binary());
    command.env_remove("MIO_SOCKET").env_remove("XDG_RUNTIME_DIR");
    for (name, value) in env {
        command.env(name, value);
    }
    TestDaemon::spawn(command, expected.to_path_buf(), TempDir::new("default"))
}

fn connect_finds(daemon: TestDaemon, expected: &Path) {
    assert_eq!(default_socket_path(), expected);
    {
        let poll = Poll::connect().expect("Poll::connect() through the default lookup");
        assert_eq!(poll.socket_path(), expected);
        poll.registry().ping().unwrap();
    }
    daemon.finish();
}

/// The default for this uid, when no daemon is there already (a real one
/// must not be disturbed).
fn check_step(expected: PathBuf, env: &[(&str, &Path)]) {
    if is_socket(&expected) {
        eprintln!("{} is in use by another daemon: lookup checked, not connected", expected.display());
        assert_eq!(default_socket_path(), expected);
        return;
    }
    let parent = expected.parent().unwrap().to_path_buf();
    let made_parent = !parent.exists();
    connect_finds(daemon_at_its_default(&expected, env), &expected);
    if made_parent {
        let _ = std::fs::remove_dir(&parent);
    }
}

#[test]
fn poll_connect_finds_the_daemon_where_the_protocol_says() {
    // Step 2: $MIO_SOCKET.
    let daemon = TestDaemon::start();
    std::env::set_var("MIO_SOCKET", &daemon.socket);
    {
        let session = Poll::connect_session("lookup", false).unwrap();
        assert_eq!((session.socket_path(), session.session()), (daemon.socket.as_path(), Some("lookup")));
    }
    let socket = daemon.socket.clone();
    connect_finds(daemon, &socket);

    // An empty $MIO_SOCKET counts as unset: the steps for this uid.
    std::env::set_var("MIO_SOCKET", "");
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        // Step 3: root.
        std::env::set_var("XDG_RUNTIME_DIR", "/nonexistent");
        check_step(PathBuf::from("/run/mio-daemon/mio.sock"), &[]);
    } else {
        // Step 4: $XDG_RUNTIME_DIR.
        let runtime = TempDir::new("xdg");
        std::env::set_var("XDG_RUNTIME_DIR", &runtime.0);
        check_step(runtime.0.join("mio-daemon/mio.sock"), &[("XDG_RUNTIME_DIR", &runtime.0)]);
        // Step 5: /tmp/mio-daemon-$UID.
        std::env::remove_var("XDG_RUNTIME_DIR");
        check_step(PathBuf::from(format!("/tmp/mio-daemon-{uid}/mio.sock")), &[]);
    }
}
