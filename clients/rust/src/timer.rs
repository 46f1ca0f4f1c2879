//! Timers of the daemon's (docs/protocol.md, "Timers"): a readable event
//! for a token after a delay, then every period. mio has no timer; this is
//! one more kind of registration, reached by its token.

use std::io;
use std::time::Duration;

use mio::Token;

use crate::registry::Registry;

/// The longest `after` and `every` the daemon takes: 2^53−1 ms.
pub const MAX_TIMER: Duration = Duration::from_millis((1 << 53) - 1);

impl Registry {
    /// A timer of the daemon's under `token`: `poll` returns a readable
    /// event for it `after` from now (zero: at once), then every `every`
    /// (`None`: once). Expiries that pile up while nobody polls coalesce
    /// into one event, like any readiness. On a token that is a timer
    /// already, the timer is set anew. `deregister_token` removes it (no
    /// event of it comes out of `poll` afterwards); the clock is
    /// `CLOCK_MONOTONIC`.
    ///
    /// Durations go to the daemon as whole milliseconds rounded up (a timer
    /// never fires early). Refused here with `InvalidInput` (no
    /// `DaemonError`): `after` or `every` above [`MAX_TIMER`], `every` zero.
    /// By the daemon: `AlreadyExists` (code `token_in_use`) if the token is
    /// a registration, waker or held fd. A timer's `fetch` fails with
    /// `bad_request`, its `reregister_token` with `wrong_state`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use mio_daemon_client::{Events, Poll, Token};
    /// let mut poll = Poll::connect()?;
    /// poll.registry().timer(Token(1), Duration::from_millis(500), Some(Duration::from_secs(1)))?;
    /// let mut events = Events::with_capacity(8);
    /// poll.poll(&mut events, None)?; // Token(1), readable, after 500 ms
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn timer(&self, token: Token, after: Duration, every: Option<Duration>) -> io::Result<()> {
        let after_ms = milliseconds(after, "after")?;
        let every_ms = match every {
            Some(period) if period.is_zero() => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "a timer's period must be longer than zero"))
            }
            Some(period) => Some(milliseconds(period, "every")?),
            None => None,
        };
        self.request("timer", None, |line| {
            line.unsigned("token", token.0 as u64).unsigned("after_ms", after_ms);
            if let Some(every_ms) = every_ms {
                line.unsigned("interval_ms", every_ms);
            }
        })?;
        Ok(())
    }
}

/// Whole milliseconds, rounded up; at most [`MAX_TIMER`].
fn milliseconds(duration: Duration, what: &str) -> io::Result<u64> {
    if duration > MAX_TIMER {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("a timer's {what} is at most 2^53-1 ms, not {duration:?}")));
    }
    Ok(((duration.as_nanos() + 999_999) / 1_000_000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_become_whole_milliseconds_rounded_up() {
        assert_eq!(milliseconds(Duration::ZERO, "after").unwrap(), 0);
        assert_eq!(milliseconds(Duration::from_nanos(1), "after").unwrap(), 1);
        assert_eq!(milliseconds(Duration::from_micros(1500), "after").unwrap(), 2);
        assert_eq!(milliseconds(Duration::from_millis(20), "after").unwrap(), 20);
        assert_eq!(milliseconds(MAX_TIMER, "after").unwrap(), (1 << 53) - 1);
        let error = milliseconds(MAX_TIMER + Duration::from_nanos(1), "every").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(milliseconds(Duration::MAX, "after").is_err());
    }
}
