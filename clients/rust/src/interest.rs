//! Priority interest and oneshot mode: what the daemon offers beyond
//! Debian's mio 0.8.4.
//!
//! mio's [`Interest`] came with `PRIORITY` only in 0.8.6, and it cannot be
//! extended from outside (its bits are private). So every `register` and
//! `reregister` takes `impl Into<RemoteInterest>`: mio's own `Interest`
//! values work unchanged, and priority is one `|` away:
//!
//! ```
//! use mio::Interest;
//! use mio_daemon_client::RemoteInterest;
//!
//! let interest = Interest::READABLE | RemoteInterest::PRIORITY;
//! assert!(interest.is_readable() && interest.is_priority() && !interest.is_writable());
//! assert_eq!(RemoteInterest::from(Interest::WRITABLE), RemoteInterest::WRITABLE);
//! ```

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use mio::Interest;

/// Interest as the daemon takes it: readable, writable and priority
/// (`EPOLLPRI`), in any non-empty combination.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteInterest(u8);

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;
const PRIORITY: u8 = 4;

impl RemoteInterest {
    pub const READABLE: RemoteInterest = RemoteInterest(READABLE);
    pub const WRITABLE: RemoteInterest = RemoteInterest(WRITABLE);
    /// `EPOLLPRI`: out-of-band TCP data, a `/proc` or sysfs file that
    /// changed, a terminal packet-mode state change. A priority event sets
    /// `is_readable` too, as in mio.
    pub const PRIORITY: RemoteInterest = RemoteInterest(PRIORITY);

    #[must_use]
    pub const fn add(self, other: RemoteInterest) -> RemoteInterest {
        RemoteInterest(self.0 | other.0)
    }

    /// `self` without `other`; `None` if nothing would be left.
    pub fn remove(self, other: RemoteInterest) -> Option<RemoteInterest> {
        match self.0 & !other.0 {
            0 => None,
            bits => Some(RemoteInterest(bits)),
        }
    }

    pub const fn is_readable(self) -> bool {
        self.0 & READABLE != 0
    }

    pub const fn is_writable(self) -> bool {
        self.0 & WRITABLE != 0
    }

    pub const fn is_priority(self) -> bool {
        self.0 & PRIORITY != 0
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The protocol's names, in the order readable, writable, priority.
    pub(crate) fn names(self) -> impl Iterator<Item = &'static str> {
        [(READABLE, "readable"), (WRITABLE, "writable"), (PRIORITY, "priority")]
            .into_iter()
            .filter(move |(bit, _)| self.0 & bit != 0)
            .map(|(_, name)| name)
    }

    pub(crate) fn from_name(name: &str) -> Option<RemoteInterest> {
        match name {
            "readable" => Some(RemoteInterest::READABLE),
            "writable" => Some(RemoteInterest::WRITABLE),
            "priority" => Some(RemoteInterest::PRIORITY),
            _ => None,
        }
    }
}

impl From<Interest> for RemoteInterest {
    /// mio's readable and writable. (AIO and LIO exist on the BSDs only.)
    fn from(interest: Interest) -> RemoteInterest {
        let mut bits = 0;
        if interest.is_readable() {
            bits |= READABLE;
        }
        if interest.is_writable() {
            bits |= WRITABLE;
        }
        RemoteInterest(bits)
    }
}

impl BitOr for RemoteInterest {
    type Output = RemoteInterest;
    fn bitor(self, other: RemoteInterest) -> RemoteInterest {
        self.add(other)
    }
}

impl BitOrAssign for RemoteInterest {
    fn bitor_assign(&mut self, other: RemoteInterest) {
        *self = self.add(other);
    }
}

impl BitOr<Interest> for RemoteInterest {
    type Output = RemoteInterest;
    fn bitor(self, other: Interest) -> RemoteInterest {
        self.add(other.into())
    }
}

impl BitOr<RemoteInterest> for Interest {
    type Output = RemoteInterest;
    fn bitor(self, other: RemoteInterest) -> RemoteInterest {
        RemoteInterest::from(self).add(other)
    }
}

impl fmt::Debug for RemoteInterest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in self.names() {
            if !first {
                f.write_str(" | ")?;
            }
            first = false;
            f.write_str(&name.to_ascii_uppercase())?;
        }
        if first {
            f.write_str("(empty)")?;
        }
        Ok(())
    }
}

/// How a registration reports readiness (protocol §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Edge-triggered, as mio always is: one event per change of state.
    Edge,
    /// One event, then silence until the next `reregister`.
    Oneshot,
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Edge => "edge",
            Mode::Oneshot => "oneshot",
        }
    }
}
