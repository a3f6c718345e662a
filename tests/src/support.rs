//! Shared test support: where binaries, fixtures and Python tools are.

use std::path::{Path, PathBuf};

/// The workspace root (the folder with the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// `../shared` beside the checkout (fixtures, bench generators); CI lays it out the same way.
pub fn shared_dir() -> PathBuf {
    workspace_root().parent().expect("checkout has a parent").join("shared")
}

/// A binary built by this workspace (`target/<profile>/<name>`), found next to the running test executable.
/// `cargo test --workspace` builds every binary before running tests.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/<test> -> target/debug
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(p.exists(), "binary {} not built; run `cargo build --workspace` (or the README test command)", p.display());
    p
}

/// A tool installed by `tests/python/setup.sh` into `.venv/<venv>/bin/<tool>`.
/// Panics with the set-up command when missing: no suite silently skips.
pub fn venv_tool(venv: &str, tool: &str) -> PathBuf {
    let p = workspace_root().join(".venv").join(venv).join("bin").join(tool);
    assert!(p.exists(), "{} is missing: run `bash tests/python/setup.sh` (the README test command does)", p.display());
    p
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Wait until something listens on 127.0.0.1:`port` (up to `secs`).
pub fn wait_for_port(port: u16, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        // A connection to itself (TCP simultaneous open, when the client happens to get `port` as its own
        // ephemeral port) is not a server.
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            if stream.local_addr().ok() != stream.peer_addr().ok() {
                return true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// A child process killed when dropped (servers started by tests).
pub struct ChildGuard(pub std::process::Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real S3-compatible server (moto_server from `.venv/tools`) on a free loopback port. Returns the guard
/// that stops it and its endpoint (`http://127.0.0.1:PORT`).
pub fn moto_server() -> (ChildGuard, String) {
    for _ in 0..3 {
        let port = free_port();
        let child = std::process::Command::new(venv_tool("tools", "moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server");
        let mut guard = ChildGuard(child);
        assert!(wait_for_port(port, 60), "moto_server did not start on port {port}");
        // Something else may have taken the port between `free_port` and the server's bind: then the server
        // has exited, and another port is tried.
        std::thread::sleep(std::time::Duration::from_millis(200));
        if guard.0.try_wait().ok().flatten().is_none() && wait_for_port(port, 5) {
            return (guard, format!("http://127.0.0.1:{port}"));
        }
    }
    panic!("moto_server exited right after starting, three times")
}

/// Create a bucket on an S3 test server (a plain `PUT /bucket`, which moto accepts without signing).
pub fn s3_create_bucket(endpoint: &str, bucket: &str) {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).expect("connect to the S3 server");
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    assert!(resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"), "create bucket {bucket}: {resp}");
}
