//! The buffers small cutouts are written into, kept for the next cutouts once sent.
//!
//! A fresh 500 kB buffer per cutout costs more than the cutout: the allocator hands memory of
//! that size back to the kernel when it is freed (`munmap`, or `madvise` on a thread's arena),
//! so every cutout page-faulted its buffer in again, a zeroed page at a time (BENCHMARKS.md,
//! "SODA cutouts", 2026-11-29). A buffer given back here when its response is dropped is reused
//! with its pages still mapped.

use ivoagen_runtime::codegen as rt;
use std::sync::{Arc, Mutex};

/// How many buffers are kept by default: one per cutout sent at once under an ordinary load;
/// with more at once, the others are freed as before.
pub const KEPT: usize = 8;

/// Buffers kept for reuse: at most `most`, each of at most `largest` bytes of capacity, so at
/// most `most × largest` bytes are held while the server is idle.
#[derive(Debug)]
pub struct Buffers {
    kept: Mutex<Vec<Vec<u8>>>,
    most: usize,
    largest: usize,
}

impl Buffers {
    /// A pool keeping at most `most` buffers of at most `largest` bytes each.
    pub fn new(most: usize, largest: usize) -> Arc<Buffers> {
        Arc::new(Buffers { kept: Mutex::new(Vec::with_capacity(most)), most, largest })
    }

    /// An empty buffer with room for `length` bytes: a kept one if there is one.
    pub fn take(&self, length: usize) -> Vec<u8> {
        let kept = self.kept.lock().ok().and_then(|mut kept| kept.pop());
        let mut buffer = kept.unwrap_or_default();
        buffer.reserve_exact(length);
        buffer
    }

    /// A response body of `buffer`'s bytes, which gives the buffer back to `pool` when the body
    /// is dropped (sent, or abandoned by a client that went away).
    pub fn body(pool: &Arc<Buffers>, buffer: Vec<u8>) -> rt::Bytes {
        rt::Bytes::from_owner(Recycled { buffer, pool: pool.clone() })
    }

    fn give_back(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() > self.largest {
            return;
        }
        buffer.clear();
        if let Ok(mut kept) = self.kept.lock()
            && kept.len() < self.most
        {
            kept.push(buffer);
        }
    }
}

/// A buffer lent to a response body.
struct Recycled {
    buffer: Vec<u8>,
    pool: Arc<Buffers>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_body_gives_its_buffer_to_the_next_cutout() {
        let pool = Buffers::new(2, 1024);
        let mut buffer = pool.take(600);
        buffer.extend_from_slice(&[7; 600]);
        let address = buffer.as_ptr();
        let body = Buffers::body(&pool, buffer);
        assert_eq!(&body[..], &[7; 600][..]);
        let clone = body.clone();
        drop(body);
        assert!(pool.kept.lock().unwrap().is_empty(), "a body still referenced keeps its buffer");
        drop(clone);
        let again = pool.take(500);
        assert!(again.is_empty() && again.capacity() >= 600);
        assert_eq!(again.as_ptr(), address, "the same memory is reused");
    }

    #[test]
    fn the_pool_holds_at_most_its_count_of_buffers_not_larger_than_its_limit() {
        let pool = Buffers::new(2, 1024);
        let bodies: Vec<rt::Bytes> = (0..3).map(|_| Buffers::body(&pool, pool.take(100))).collect();
        drop(bodies);
        assert_eq!(pool.kept.lock().unwrap().len(), 2);
        let pool = Buffers::new(2, 1024);
        drop(Buffers::body(&pool, pool.take(4096)));
        assert!(pool.kept.lock().unwrap().is_empty(), "a buffer over the limit is freed");
    }
}
