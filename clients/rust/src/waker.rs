//! `Waker`: mio's waker, made by the daemon (the `waker` op: an eventfd of
//! the daemon's, registered readable). `wake` may be called from any thread.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;

use crate::connection::{Shared, WAKE_ID_PREFIX};
use crate::json::write_string;
use crate::registry::Registry;

/// Wakes a [`Poll`](crate::Poll) from another thread, as [`mio::Waker`]:
/// `poll` returns a readable event for the waker's token. Wakes before that
/// event is returned coalesce into one.
///
/// `Waker` is `Send` and `Sync`. It sends its `wake` requests on the
/// `Poll`'s own connection without waiting for their replies (those reach
/// the `Poll`'s reader), so `wake` never blocks on the thread in `poll`. A
/// wake the daemon refused (say, the token was deregistered) is reported by
/// the next `wake` of this waker, once the `Poll` has read the refusal.
///
/// The daemon-side waker lives as long as its registration: dropping the
/// `Waker` does not remove it (`Registry::deregister_token` does). In a
/// persistent session it outlives this process; another connection of the
/// same uid can fire it with `Registry::wake_session`.
pub struct Waker {
    shared: Arc<Shared>,
    token: u64,
    line: Vec<u8>,
    timeout: Duration,
}

impl Waker {
    /// Creates the daemon-side waker under `token` (a registration like any
    /// other: `AlreadyExists`, code `token_in_use`, if the session has it).
    pub fn new(registry: &Registry, token: Token) -> io::Result<Waker> {
        registry.request("waker", None, |line| {
            line.unsigned("token", token.0 as u64);
        })?;
        let connection = registry.connection.borrow();
        let token = token.0 as u64;
        let mut line = b"{\"op\":\"wake\",\"id\":".to_vec();
        write_string(&mut line, &format!("{WAKE_ID_PREFIX}{token}"));
        line.extend_from_slice(format!(",\"token\":{token}}}\n").as_bytes());
        Ok(Waker { shared: Arc::clone(connection.shared()), token, line, timeout: connection.request_timeout() })
    }

    /// Fires the waker. Fails with `BrokenPipe` once the `Poll` is gone, and
    /// with the daemon's refusal of an earlier wake (`NotFound`, code
    /// `unknown_token`, if the waker was deregistered).
    pub fn wake(&self) -> io::Result<()> {
        {
            let mut refused = self.shared.refused_wakes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = refused.iter().position(|(token, _)| *token == self.token) {
                let (_, error) = refused.remove(at);
                return Err(error.into());
            }
        }
        let deadline = Instant::now().checked_add(self.timeout).unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        self.shared.socket.send(&self.line, None, deadline)
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker").field("token", &Token(self.token as usize)).finish()
    }
}
