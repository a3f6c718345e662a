//! [`PageSpill`]: where a Parquet file's encoded pages wait, outside the heap, for their row group to close.
//!
//! Each column chunk of a row group is contiguous in the file, so every page of the open row group waits until
//! the group closes. A file of one 128 MB row group kept all its compressed pages in memory: at 1M benchmark
//! records 37 of the 78 MB of heap at the peak, and a share that grew with the number of files, as the heaps
//! fragmented around them. Spilled, the pages wait in an unnamed temporary file beside the staged output (in
//! the page cache, usually never reaching the disk) and are read back once, when the row group is written.
//! The file is made with the first page spilled: a file whose pages all come when its columns close (a small
//! file, as each of many interleaved streams makes) never needs one. With 1000 streams, the spill files were
//! half of the files a sync created (0.4-1.3 ms each under strace), all on the thread that routes every batch.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// An unnamed temporary file that the encoding threads append pages to concurrently (each append reserves
/// its range first) and the file writer reads back; emptied after each row group.
pub struct PageSpill {
    dir: PathBuf,
    /// Made by the first append.
    file: OnceLock<std::fs::File>,
    making: Mutex<()>,
    end: AtomicU64,
    /// Bytes appended since the spill was made (clearing does not reset it).
    appended: AtomicU64,
}

impl PageSpill {
    /// A spill file in `dir`, made when a page is first appended (it has no name there, so nothing is left
    /// behind however the process ends).
    pub fn create_in(dir: &Path) -> io::Result<PageSpill> {
        if !cfg!(unix) {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "spilling pages needs a Unix system"));
        }
        Ok(PageSpill {
            dir: dir.to_path_buf(),
            file: OnceLock::new(),
            making: Mutex::new(()),
            end: AtomicU64::new(0),
            appended: AtomicU64::new(0),
        })
    }

    /// The file, made on first use.
    fn file(&self) -> io::Result<&std::fs::File> {
        if let Some(file) = self.file.get() {
            return Ok(file);
        }
        let _making = self.making.lock().unwrap_or_else(|e| e.into_inner());
        if self.file.get().is_none() {
            let file = tempfile::tempfile_in(&self.dir).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create a page spill file in {}: {e}", self.dir.display()))
            })?;
            let _ = self.file.set(file);
        }
        Ok(self.file.get().expect("made above"))
    }

    /// Whether the file has been made (a page was appended).
    pub fn made(&self) -> bool {
        self.file.get().is_some()
    }

    /// Write `parts` one after the other; returns where the first starts.
    pub(crate) fn append(&self, parts: &[&[u8]]) -> io::Result<u64> {
        let file = self.file()?;
        let len: u64 = parts.iter().map(|part| part.len() as u64).sum();
        let start = self.end.fetch_add(len, Ordering::Relaxed);
        self.appended.fetch_add(len, Ordering::Relaxed);
        let mut at = start;
        for part in parts {
            write_all_at(file, part, at)?;
            at += part.len() as u64;
        }
        Ok(start)
    }

    /// Bytes appended in all, cleared ones included.
    pub fn bytes_appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Fill `buf` from `offset`.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match self.file.get() {
            Some(file) => read_exact_at(file, buf, offset),
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "nothing was spilled")),
        }
    }

    /// Drop everything appended; only when no page in it is still to be read.
    pub(crate) fn clear(&self) -> io::Result<()> {
        if let Some(file) = self.file.get() {
            file.set_len(0)?;
        }
        self.end.store(0, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(unix)]
fn write_all_at(file: &std::fs::File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn write_all_at(_: &std::fs::File, _: &[u8], _: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(unix))]
fn read_exact_at(_: &std::fs::File, _: &mut [u8], _: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_from_several_threads_read_back_whole_and_clear_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let spill = std::sync::Arc::new(PageSpill::create_in(dir.path()).unwrap());
        assert!(!spill.made(), "the file is made by the first append");
        spill.clear().unwrap();
        assert!(spill.read_exact_at(&mut [0; 1], 0).is_err());
        let threads: Vec<_> = (0u8..4)
            .map(|t| {
                let spill = spill.clone();
                std::thread::spawn(move || {
                    (0..50usize)
                        .map(|i| {
                            let head = vec![t; 3];
                            let body = vec![i as u8; 100 + i];
                            (t, i, spill.append(&[&head, &body]).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let appended: Vec<_> = threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
        assert!(spill.made());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the spill file has no name");
        for (t, i, start) in appended {
            let mut buf = vec![0; 103 + i];
            spill.read_exact_at(&mut buf, start).unwrap();
            assert_eq!(&buf[..3], &[t; 3]);
            assert!(buf[3..].iter().all(|&b| b == i as u8), "page {i} of thread {t} overlaps another");
        }
        assert_eq!(spill.bytes_appended(), (0..50).map(|i| 103 + i).sum::<u64>() * 4);
        spill.clear().unwrap();
        assert_eq!(spill.append(&[b"again"]).unwrap(), 0);
        assert!(spill.read_exact_at(&mut [0; 6], 0).is_err(), "cleared: only the new bytes are there");
    }
}
