//! Free loopback ports, handed out so that servers started at the same time never get the same one.
//!
//! A port is free when 127.0.0.1 can bind it, but a bind check alone races: parallel tests of one binary, test
//! binaries of other crates and other checkouts on the same machine may all pick a port before any server binds it.
//! So each handed-out port is also held by an exclusive lock on a file named after it, in a directory every process
//! on the machine shares. The lock lives as long as the server (across a restart too), and the kernel drops it when
//! the process dies, so a crash never leaks ports.
//!
//! Ports are picked at random below Linux's ephemeral range (32768–60999): outgoing connections made meanwhile
//! cannot take them, and SeaweedFS's gRPC twins at port + 10000 stay below it too.

use std::env;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use rand::Rng;

use crate::error::{Error, Result};

const FIRST: u16 = 10_000;
const LAST: u16 = 22_000;
const TRIES: usize = 1_000;

/// Ports reserved for one server; they stay reserved until this is dropped.
#[derive(Debug)]
pub(crate) struct Ports {
    ports: Vec<u16>,
    _locks: Vec<File>,
}

impl Ports {
    /// Reserves `count` ports P such that every P + offset is free too: `&[0]` for plain ports, `&[0, 1]` for
    /// OpenBao's API port and its cluster port, `&[0, 10_000]` for SeaweedFS's HTTP and gRPC ports.
    pub(crate) fn reserve(count: usize, offsets: &[u16]) -> Result<Self> {
        let dir = env::temp_dir().join("vault-testkit-ports");
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let mut rng = rand::rng();
        let mut ports = Vec::with_capacity(count);
        let mut locks = Vec::with_capacity(count * offsets.len());
        for _ in 0..TRIES {
            if ports.len() == count {
                break;
            }
            let base = rng.random_range(FIRST..=LAST);
            if let Some(held) = claim(&dir, base, offsets)? {
                ports.push(base);
                locks.extend(held);
            }
        }
        if ports.len() < count {
            return Err(Error::Setup {
                problem: format!("found only {} of {count} free loopback ports in {FIRST}..={LAST}", ports.len()),
                fix: "stop leftover servers (`ss -ltnp` lists them)".to_owned(),
            });
        }
        Ok(Ports { ports, _locks: locks })
    }

    /// The `index`th reserved port.
    pub(crate) fn get(&self, index: usize) -> u16 {
        self.ports[index]
    }
}

/// Locks and bind-checks `base + offset` for every offset; `None` when any of them is taken.
fn claim(dir: &Path, base: u16, offsets: &[u16]) -> Result<Option<Vec<File>>> {
    let mut held = Vec::with_capacity(offsets.len());
    for offset in offsets {
        let port = base + offset;
        let path = dir.join(format!("{port}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        // flock conflicts between two opens even in one process, so this also keeps our own threads apart.
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(Error::io(format!("cannot lock {}", path.display()), e)),
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            return Ok(None);
        }
        held.push(file);
    }
    Ok(Some(held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_and_their_twins_are_distinct_and_held() {
        let first = Ports::reserve(5, &[0, 10_000]).unwrap();
        let second = Ports::reserve(5, &[0, 10_000]).unwrap();
        let mut all: Vec<u16> =
            first.ports.iter().chain(&second.ports).flat_map(|&port| [port, port + 10_000]).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 20, "two reservations overlap: {:?} {:?}", first.ports, second.ports);

        // Another process would open its own file descriptor; so does this.
        let dir = env::temp_dir().join("vault-testkit-ports");
        let port = first.get(0);
        assert!(claim(&dir, port, &[0]).unwrap().is_none(), "port {port} can be claimed twice");
        drop(first);
        assert!(claim(&dir, port, &[0]).unwrap().is_some(), "port {port} stays held after its reservation is dropped");
    }
}
