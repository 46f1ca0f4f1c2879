//! The real daemon for each test: `$MIO_DAEMON_BIN` (else the repository's
//! `.build/debug/mio-daemon`) on a socket in a fresh directory, its fd
//! count at start as the baseline every test must return to.
#![allow(dead_code)] // each test binary uses a part

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mio_daemon_client::{ConnectOptions, Poll};

pub fn daemon_binary() -> PathBuf {
    match std::env::var_os("MIO_DAEMON_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.build/debug/mio-daemon"),
    }
}

/// A fresh directory under /tmp, removed at drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("mio-rust-{what}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub struct TestDaemon {
    child: Option<Child>,
    pub socket: PathBuf,
    pub baseline: usize,
    stderr_path: PathBuf,
    dir: TempDir,
}

impl TestDaemon {
    pub fn start() -> TestDaemon {
        let dir = TempDir::new("daemon");
        let socket = dir.0.join("mio.sock");
        let mut command = Command::new(daemon_binary());
        command.arg("--socket").arg(&socket);
        TestDaemon::spawn(command, socket, dir)
    }

    /// A daemon started by `command` (flags and environment as the caller
    /// wants), serving `socket`.
    pub fn spawn(mut command: Command, socket: PathBuf, dir: TempDir) -> TestDaemon {
        let binary = daemon_binary();
        assert!(
            binary.exists(),
            "mio-daemon not found at {} (build it, or set MIO_DAEMON_BIN)",
            binary.display()
        );
        let stderr_path = dir.0.join("daemon.log");
        let stderr = fs::File::create(&stderr_path).expect("log file");
        for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            command.env_remove(name);
        }
        command.args(["--log-level", "debug"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
        let child = command.spawn().expect("start mio-daemon");
        let mut daemon = TestDaemon { child: Some(child), socket, baseline: 0, stderr_path, dir };
        daemon.wait_ready();
        daemon
    }

    /// Up once a ping is answered; the baseline is the fd count without
    /// that probe connection.
    fn wait_ready(&mut self) {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mio-daemon exited with {status} at start:\n{}", self.stderr_tail());
            }
            if let Ok(mut probe) = UnixStream::connect(&self.socket) {
                probe.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                probe.write_all(b"{\"op\":\"ping\",\"id\":\"ready\"}\n").unwrap();
                let mut reply = String::new();
                BufReader::new(&probe).read_line(&mut reply).unwrap();
                assert!(reply.contains("\"ok\":true"), "probe reply: {reply}");
                self.baseline = self.fd_count() - 1;
                drop(probe);
                self.wait_fds(self.baseline, "after the readiness probe closed");
                return;
            }
            assert!(Instant::now() < end, "mio-daemon does not listen on {}", self.socket.display());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn poll(&self) -> Poll {
        Poll::connect_at(&self.socket).expect("connect to the test daemon")
    }

    pub fn options(&self) -> ConnectOptions {
        ConnectOptions::new().socket_path(&self.socket)
    }

    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid())).expect("/proc/PID/fd").count()
    }

    fn fd_targets(&self) -> Vec<String> {
        let mut targets: Vec<String> = fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|dir| dir.filter_map(|e| fs::read_link(e.ok()?.path()).ok()).map(|t| t.display().to_string()).collect())
            .unwrap_or_default();
        targets.sort();
        targets
    }

    /// Waits (closes are asynchronous to us) until the daemon has exactly
    /// `expected` fds open.
    pub fn wait_fds(&self, expected: usize, what: &str) {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let now = self.fd_count();
            if now == expected {
                return;
            }
            if Instant::now() >= end {
                panic!(
                    "mio-daemon has {now} fds open {what}, expected {expected} (baseline {}): {:?}\n{}",
                    self.baseline,
                    self.fd_targets(),
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The baseline plus `connections` client connections and `held` fds.
    pub fn expect_fds(&self, connections: usize, held: usize) {
        self.wait_fds(self.baseline + connections + held, &format!("with {connections} connection(s) and {held} held fd(s)"));
    }

    pub fn signal(&self, signal: libc::c_int) {
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0, "kill({signal})");
    }

    /// The end of every test: the daemon is back at its baseline, then
    /// stops on SIGTERM with status 0.
    pub fn finish(mut self) {
        self.wait_fds(self.baseline, "at the end of the test (every client gone)");
        self.signal(libc::SIGTERM);
        self.wait_exit_zero();
    }

    /// Waits for the daemon to exit; asserts status 0.
    pub fn wait_exit_zero(&mut self) {
        let mut child = self.child.take().expect("running");
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "mio-daemon exited with {status}:\n{}", self.stderr_tail());
                return;
            }
            if Instant::now() >= end {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mio-daemon did not exit within 10 s of SIGTERM:\n{}", self.stderr_tail());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stderr_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(&self.stderr_path) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        format!("--- mio-daemon stderr (last lines) ---\n{}", lines[lines.len().saturating_sub(30)..].join("\n"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// One request line on a connection of its own, for what the crate does
    /// not send (`sessions`); the reply line, which must say ok.
    pub fn raw(&self, line: &str) -> String {
        let mut stream = UnixStream::connect(&self.socket).expect("raw connection");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply).unwrap();
        assert!(reply.contains("\"ok\":true"), "reply to {line}: {reply}");
        reply
    }

    /// The `sessions` entry of the session `name` (its JSON text), if the
    /// daemon lists it.
    pub fn session_entry(&self, name: &str) -> Option<String> {
        let reply = self.raw("{\"op\":\"sessions\",\"id\":1}\n");
        let start = reply.find(&format!("{{\"name\":\"{name}\""))?;
        let end = start + reply[start..].find('}')?;
        Some(reply[start..=end].to_string())
    }
}

/// The text of member `key` of a flat JSON object (`"lease_s":1` gives
/// `"1"`), if present.
pub fn member<'a>(object: &'a str, key: &str) -> Option<&'a str> {
    let start = object.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &object[start..];
    Some(&rest[..rest.find(|c| c == ',' || c == '}')?])
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A failed test: make sure a stopped daemon does not stay stopped.
            unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                eprintln!("{}", self.stderr_tail());
            }
        }
    }
}

/// Both ends of a non-blocking pipe.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

pub fn write_byte(fd: &impl AsRawFd) {
    assert_eq!(unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr() as *const libc::c_void, 1) }, 1);
}

/// Reads until EAGAIN; the bytes read.
pub fn drain(fd: &impl AsRawFd) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr() as *mut libc::c_void, buffer.len()) };
        if n <= 0 {
            return out;
        }
        out.extend_from_slice(&buffer[..n as usize]);
    }
}

/// (device, inode) of an fd: whether two fds are the same file.
pub fn identity(fd: RawFd) -> (u64, u64) {
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstat(fd, &mut stat) }, 0);
    (stat.st_dev, stat.st_ino)
}

/// Whether `path` is a socket file.
pub fn is_socket(path: &Path) -> bool {
    fs::symlink_metadata(path).map(|m| m.file_type().is_socket()).unwrap_or(false)
}
