//! `make bench`'s relay through this crate: one pipe registered as token 1;
//! per round, write 1 byte, `poll` until token 1's event, drain the pipe.
//! The same loop as `daemon_client relay` (Benchmarks/c/daemon_client.c),
//! and the same JSON line out.
//!
//!     relay_bench SOCKET [ROUNDS]

use std::io::Read;
use std::time::Instant;

use mio::unix::pipe;
use mio_daemon_client::{Events, Interest, Poll, Token};

fn main() {
    let mut args = std::env::args().skip(1);
    let socket = args.next().unwrap_or_else(|| fail("usage: relay_bench SOCKET [ROUNDS]"));
    let rounds: usize = args.next().map_or(20000, |r| r.parse().unwrap_or_else(|_| fail("ROUNDS: a number")));
    let warmup = rounds / 20 + 10;

    let mut poll = Poll::connect_at(&socket).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    let mut events = Events::with_capacity(64);
    let (mut sender, mut receiver) = pipe::new().unwrap_or_else(|e| fail(&format!("pipe: {e}")));
    poll.registry()
        .register(&mut receiver, Token(1), Interest::READABLE)
        .unwrap_or_else(|e| fail(&format!("register: {e}")));

    let mut latencies = Vec::with_capacity(rounds);
    let mut sink = [0u8; 256];
    for round in 0..warmup + rounds {
        let start = Instant::now();
        std::io::Write::write_all(&mut sender, b"x").unwrap_or_else(|e| fail(&format!("write: {e}")));
        'wait: loop {
            poll.poll(&mut events, None).unwrap_or_else(|e| fail(&format!("poll: {e}")));
            for event in &events {
                if event.token() == Token(1) {
                    break 'wait;
                }
            }
        }
        while let Ok(n) = receiver.read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        if round >= warmup {
            latencies.push(start.elapsed().as_nanos() as u64);
        }
    }
    let mean = latencies.iter().sum::<u64>() as f64 / rounds as f64 / 1e3;
    latencies.sort_unstable();
    let us = |ns: u64| ns as f64 / 1e3;
    println!(
        "{{\"rounds\": {}, \"mean_us\": {:.3}, \"p50_us\": {:.3}, \"p99_us\": {:.3}, \"min_us\": {:.3}, \"max_us\": {:.3}}}",
        rounds,
        mean,
        us(latencies[rounds / 2]),
        us(latencies[rounds * 99 / 100]),
        us(latencies[0]),
        us(latencies[rounds - 1])
    );
}

fn fail(message: &str) -> ! {
    eprintln!("relay_bench: {message}");
    std::process::exit(1);
}
