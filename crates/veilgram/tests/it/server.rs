//! Starting `veilgram serve` as a child process, and a minimal HTTP/1.1 client over raw TCP
//! (raw, so a test can send half a request and finish it later).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Server {
    pub child: Child,
    pub address: String,
    /// The admin listener (`/metrics`).
    pub admin_address: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
    stderr_signal: Arc<(Mutex<usize>, std::sync::Condvar)>,
}

#[derive(Default)]
pub struct StartOptions<'a> {
    pub data_dir: Option<&'a std::path::Path>,
    pub database_url: Option<&'a str>,
    pub environment: Vec<(&'a str, &'a str)>,
    /// Runs the server under `prlimit --nofile=N:N` (util-linux).
    pub open_files_limit: Option<u32>,
}

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veilgram"))
}

/// Runs `veilgram <arguments…>` on `data_dir` with a clean environment; panics unless it
/// succeeds.
pub fn run_subcommand(arguments: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    let output = binary()
        .args(arguments)
        .env_clear()
        .env("VEILGRAM_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Server {
    pub fn start(options: StartOptions<'_>) -> Self {
        let mut command = match options.open_files_limit {
            // prlimit execs the server: the child's pid is the server's.
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command
                    .arg(format!("--nofile={limit}:{limit}"))
                    .arg(env!("CARGO_BIN_EXE_veilgram"));
                command
            }
            None => binary(),
        };
        command
            .arg("serve")
            .env_clear()
            .env("VEILGRAM_LISTEN", "127.0.0.1:0")
            .env("VEILGRAM_ADMIN_LISTEN", "127.0.0.1:0")
            .env("VEILGRAM_LOG__LEVEL", "info")
            // Tests sign in more often than people do; a test about limits sets its own.
            .env("VEILGRAM_RATE_LIMIT_SCALE", "0")
            // A test about proofs of work turns them back on.
            .env("VEILGRAM_AUTH__PROOF_OF_WORK", "false")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(directory) = options.data_dir {
            command.env("VEILGRAM_DATA_DIR", directory);
        }
        if let Some(url) = options.database_url {
            command.env("VEILGRAM_DATABASE_URL", url);
        }
        for (name, value) in &options.environment {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start veilgram");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_signal = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
        {
            let reader = BufReader::new(child.stderr.take().unwrap());
            let lines = Arc::clone(&stderr);
            let signal = Arc::clone(&stderr_signal);
            std::thread::spawn(move || {
                for line in reader.lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                    let (count, condvar) = &*signal;
                    *count.lock().unwrap() += 1;
                    condvar.notify_all();
                }
            });
        }
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        // A process with an HTTP role prints its address first; every one its admin address.
        let address = match line.trim().strip_prefix("veilgram listening on http://") {
            Some(address) => {
                let address = address.to_owned();
                line.clear();
                stdout.read_line(&mut line).unwrap();
                address
            }
            None => String::new(),
        };
        let admin_address = line
            .trim()
            .strip_prefix("veilgram admin on http://")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected line {line:?}; stderr: {:?}",
                    stderr.lock().unwrap()
                )
            })
            .to_owned();
        Self {
            child,
            address,
            admin_address,
            stderr,
            stderr_signal,
        }
    }

    /// Blocks until a stderr line contains `needle`, or panics after `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (count, condvar) = &*self.stderr_signal;
        let mut guard = count.lock().unwrap();
        loop {
            if self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(needle))
            {
                return;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            assert!(
                !remaining.is_zero(),
                "no log line with {needle:?} within {timeout:?}"
            );
            guard = condvar.wait_timeout(guard, remaining).unwrap().0;
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "veilgram did not exit within {timeout:?}"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// The raw text of `/metrics`, from the admin listener.
    pub async fn metrics(&self) -> String {
        get_text(&self.admin_address, "/metrics").await
    }

    /// The raw text of a GET on the public listener.
    pub async fn get_text(&self, path: &str) -> String {
        get_text(&self.address, path).await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        self.request_from(1, method, path, body, token).await
    }

    /// [`Self::request`] from loopback address `127.0.0.<host>`.
    pub async fn request_from(
        &self,
        host: u8,
        method: &str,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut stream = connect_from(host, &self.address).await.unwrap();
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.address
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        stream.write_all(head.as_bytes()).await.unwrap();
        read_response(&mut stream).await
    }
}

/// Two servers on one database, as a deployment runs them (two pods): each its own data
/// directory, nothing copied between them.
pub struct Pair {
    pub first: Server,
    pub second: Server,
    _directories: [tempfile::TempDir; 2],
}

impl Pair {
    /// The data directory of the first (0) or second (1) server.
    pub fn data_dir(&self, which: usize) -> &std::path::Path {
        self._directories[which].path()
    }

    pub fn start(database_url: &str, environment: &[(&str, &str)]) -> Self {
        let directories = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let start = |directory: &tempfile::TempDir| {
            Server::start(StartOptions {
                data_dir: Some(directory.path()),
                database_url: Some(database_url),
                environment: environment.to_vec(),
                ..StartOptions::default()
            })
        };
        let first = start(&directories[0]);
        let second = start(&directories[1]);
        Self {
            first,
            second,
            _directories: directories,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection to `server` from loopback address `127.0.0.<host>`.
pub async fn connect_from(host: u8, server: &str) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, host)),
        0,
    ))?;
    socket.connect(server.parse().unwrap()).await
}

/// Reads a `Connection: close` response: status code and JSON body (or `Null`).
pub async fn read_response(stream: &mut TcpStream) -> (u16, Value) {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The raw text of a GET on `address`.
pub async fn get_text(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    String::from_utf8_lossy(&raw).into_owned()
}

/// A memory figure of process `pid` (`VmRSS`, `VmHWM`, ...) from `/proc/<pid>/status`, in KiB.
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A TCP forwarder to `upstream` that can be shut (new connections are dropped at once, as a
/// server that is down would) and opened again: a dependency going down and coming back.
pub struct Gate {
    pub address: String,
    open: Arc<std::sync::atomic::AtomicBool>,
}

impl Gate {
    pub async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let gate = Arc::clone(&open);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !gate.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is reset
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { address, open }
    }

    pub fn set_open(&self, open: bool) {
        self.open.store(open, std::sync::atomic::Ordering::SeqCst);
    }
}
