//! mio's README example (a TcpListener and a TcpStream, both registered),
//! run against mio-daemon. Only the marked lines differ from mio's; the
//! loop runs until the client has seen both its connect (writable) and the
//! server closing the connection (read closed).
//!
//!     MIO_SOCKET=/path/to/mio.sock cargo run --example tcp_connect

use std::error::Error;

use mio::net::{TcpListener, TcpStream};
// was: use mio::{Events, Interest, Poll, Token};
use mio_daemon_client::{Events, Interest, Poll, Token};

// Some tokens to allow us to identify which event is for which socket.
const SERVER: Token = Token(0);
const CLIENT: Token = Token(1);

fn main() -> Result<(), Box<dyn Error>> {
    // Create a poll instance. (was: Poll::new()?)
    let mut poll = Poll::connect()?;
    // Create storage for events.
    let mut events = Events::with_capacity(128);

    // Setup the server socket. (mio's README uses a fixed port; 0 picks a free one.)
    let addr = "127.0.0.1:0".parse()?;
    let mut server = TcpListener::bind(addr)?;
    let addr = server.local_addr()?;
    // Start listening for incoming connections.
    poll.registry().register(&mut server, SERVER, Interest::READABLE)?;

    // Setup the client socket.
    let mut client = TcpStream::connect(addr)?;
    // Register the socket.
    poll.registry().register(&mut client, CLIENT, Interest::READABLE | Interest::WRITABLE)?;

    let (mut connected, mut closed) = (false, false);
    // Start an event loop.
    loop {
        // Poll Mio for events, blocking until we get an event.
        poll.poll(&mut events, None)?;

        // Process each event.
        for event in events.iter() {
            // We can use the token we previously provided to `register` to
            // determine for which socket the event is.
            match event.token() {
                SERVER => {
                    // If this is an event for the server, it means a connection
                    // is ready to be accepted.
                    //
                    // Accept the connection and drop it immediately. This will
                    // close the socket and notify the client of the EOF.
                    while let Ok((connection, peer)) = server.accept() {
                        println!("server: accepted {peer} and closed it");
                        drop(connection);
                    }
                }
                CLIENT => {
                    if event.is_writable() && !connected {
                        // We can (likely) write to the socket without blocking.
                        connected = true;
                        println!("client: connected to {addr}");
                    }
                    if event.is_read_closed() && !closed {
                        closed = true;
                        println!("client: the server closed the connection");
                    }
                }
                // We don't expect any events with tokens other than those we provided.
                _ => unreachable!(),
            }
        }
        if connected && closed {
            // The daemon holds its own copies of both sockets until they
            // are deregistered (or this Poll is closed).
            poll.registry().deregister(&mut client)?;
            poll.registry().deregister(&mut server)?;
            println!("done");
            return Ok(());
        }
    }
}
