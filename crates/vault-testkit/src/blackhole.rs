//! Servers that never answer, for tests of time limits: one that accepts connections and then says nothing (a
//! hung server, a stuck proxy), and one whose port drops connection attempts (a firewall that drops packets).
//!
//! A port nobody listens on is no use here: it refuses at once (RST), which tools report quickly. These two make
//! a client wait, which is what a time limit is for.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// Accepts every connection on a loopback port and never sends a byte; connections stay open until dropped.
#[derive(Debug)]
pub struct SilentServer {
    port: u16,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl SilentServer {
    /// Starts listening on a free loopback port.
    pub fn start() -> Result<SilentServer> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("cannot bind a loopback port".to_owned(), e))?;
        let port = listener.local_addr().map_err(|e| Error::io("cannot read the bound port".to_owned(), e))?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, held) = (stop.clone(), held.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    // Keep the socket open and unread: the client waits for an answer that never comes.
                    if let Ok(stream) = stream {
                        held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(stream);
                    }
                }
            })
        };
        Ok(SilentServer { port, stop, held, thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it has accepted so far.
    pub fn connections(&self) -> usize {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for stream in self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// A loopback port whose connection attempts go unanswered: a listener with a backlog of zero whose one queue
/// slot is taken, so Linux drops every further SYN and the client waits in its connect.
#[derive(Debug)]
pub struct DroppingPort {
    _listener: TcpListener,
    _filler: TcpStream,
    port: u16,
}

impl DroppingPort {
    /// Sets the port up.
    pub fn start() -> Result<DroppingPort> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("cannot bind a loopback port".to_owned(), e))?;
        // Listening again changes the backlog of a listening socket on Linux.
        rustix::net::listen(&listener, 0).map_err(|e| Error::io("cannot set the backlog".to_owned(), e.into()))?;
        let port = listener.local_addr().map_err(|e| Error::io("cannot read the bound port".to_owned(), e))?.port();
        let filler = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| Error::io("cannot fill the listen queue".to_owned(), e))?;
        let port_ = DroppingPort { _listener: listener, _filler: filler, port };
        // Make sure it works: a second connection attempt must not complete.
        let probe = TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            std::time::Duration::from_millis(300),
        );
        if let Ok(mut stream) = probe {
            let _ = stream.read(&mut [0; 1]);
            return Err(Error::io(
                "a listener with a full queue still accepted a connection".to_owned(),
                std::io::Error::other("SYNs are not dropped on this system"),
            ));
        }
        Ok(port_)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
