//! Mock outbound proxies on 127.0.0.1: an HTTP forward proxy (absolute-form requests and `CONNECT` tunnels) and a SOCKS5 server (no auth, `CONNECT`), each counting the connections it relayed.
//!
//! They are just enough of each protocol for reqwest's proxy support:
//! - HTTP: a request line in absolute form (`POST http://host:port/path
//!   HTTP/1.1`) is sent on to `host:port` in origin form (`POST /path`)
//!   with `Connection: close`, so every proxied request is one relayed
//!   connection (the client cannot reuse it for the next request); `CONNECT
//!   host:port` answers `200` and then relays bytes both ways (what clients
//!   do for `https://` targets). A target that cannot be reached gets `502`.
//! - SOCKS5 (RFC 1928): the "no authentication" method only, the `CONNECT`
//!   command with an IPv4, IPv6 or domain address (`socks5://` sends
//!   addresses, `socks5h://` domains).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head the HTTP proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// Which protocol a [`MockProxy`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Http,
    Socks5,
}

/// A running mock proxy.
pub struct MockProxy {
    pub addr: SocketAddr,
    pub kind: ProxyKind,
    /// Connections relayed to a target (tunnels opened, requests forwarded).
    pub relayed: Arc<AtomicUsize>,
    /// Every target asked for, in order: `host:port` for `CONNECT` and
    /// SOCKS5, the absolute URL for forwarded HTTP requests.
    targets: Arc<Mutex<Vec<String>>>,
    /// Every `Proxy-Authorization` header value received (HTTP proxies).
    credentials: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockProxy {
    /// Starts an HTTP forward proxy on an ephemeral port.
    pub async fn http() -> MockProxy {
        Self::start(ProxyKind::Http).await
    }

    /// Starts a SOCKS5 server on an ephemeral port.
    pub async fn socks5() -> MockProxy {
        Self::start(ProxyKind::Socks5).await
    }

    async fn start(kind: ProxyKind) -> MockProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind mock proxy");
        let addr = listener.local_addr().expect("mock proxy addr");
        let relayed = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let credentials = Arc::new(Mutex::new(Vec::new()));
        let seen = Relay {
            relayed: relayed.clone(),
            targets: targets.clone(),
            credentials: credentials.clone(),
        };
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    // A client that goes away mid-handshake is its own business.
                    let _ = match kind {
                        ProxyKind::Http => http_connection(client, seen).await,
                        ProxyKind::Socks5 => socks5_connection(client, seen).await,
                    };
                });
            }
        });
        MockProxy {
            addr,
            kind,
            relayed,
            targets,
            credentials,
            task,
        }
    }

    /// The proxy URL a client is configured with: `http://127.0.0.1:P` or
    /// `socks5://127.0.0.1:P`.
    pub fn url(&self) -> String {
        match self.kind {
            ProxyKind::Http => format!("http://{}", self.addr),
            ProxyKind::Socks5 => format!("socks5://{}", self.addr),
        }
    }

    /// How many connections it has relayed so far.
    pub fn relayed(&self) -> usize {
        self.relayed.load(Ordering::SeqCst)
    }

    /// The targets asked for so far, oldest first.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The `Proxy-Authorization` values received so far, oldest first.
    pub fn credentials(&self) -> Vec<String> {
        self.credentials
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }
}

/// What each connection reports back to its [`MockProxy`].
#[derive(Clone)]
struct Relay {
    relayed: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
    credentials: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    fn asked(&self, target: String) {
        if let Ok(mut t) = self.targets.lock() {
            t.push(target);
        }
    }

    /// Relays bytes both ways between the client and the target until
    /// either side is done.
    async fn pipe(&self, mut client: TcpStream, mut target: TcpStream) -> std::io::Result<()> {
        self.relayed.fetch_add(1, Ordering::SeqCst);
        tokio::io::copy_bidirectional(&mut client, &mut target).await?;
        Ok(())
    }
}

/// One client connection of the HTTP proxy.
async fn http_connection(mut client: TcpStream, seen: Relay) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("proxy-authorization")
            && let Ok(mut c) = seen.credentials.lock()
        {
            c.push(value.trim().to_string());
        }
    }
    let mut words = request_line.split(' ');
    let (method, target, version) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or("HTTP/1.1"),
    );
    if method.eq_ignore_ascii_case("CONNECT") {
        seen.asked(target.to_string());
        let Ok(upstream) = TcpStream::connect(target).await else {
            return refuse(&mut client).await;
        };
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        let mut upstream = upstream;
        // Bytes the client sent after the CONNECT head belong to the tunnel.
        upstream.write_all(&rest).await?;
        return seen.pipe(client, upstream).await;
    }
    // Absolute form: `http://host:port/path?query`.
    let Some(after_scheme) = target.strip_prefix("http://") else {
        client
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await?;
        return Ok(());
    };
    seen.asked(target.to_string());
    let (authority, path) = match after_scheme.find('/') {
        Some(i) => (&after_scheme[..i], &after_scheme[i..]),
        None => (after_scheme, "/"),
    };
    let host_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let Ok(mut upstream) = TcpStream::connect(&host_port).await else {
        return refuse(&mut client).await;
    };
    let mut forwarded = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        let hop_by_hop = [
            "connection",
            "proxy-connection",
            "keep-alive",
            "proxy-authorization",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h));
        if !hop_by_hop {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes()).await?;
    upstream.write_all(&rest).await?;
    seen.pipe(client, upstream).await
}

/// Reads up to the end of an HTTP head; returns the head (without the
/// blank line) and any bytes read past it.
async fn read_head(client: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            buf.truncate(end);
            return Ok((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The proxy's answer when the target cannot be reached.
async fn refuse(client: &mut TcpStream) -> std::io::Result<()> {
    client
        .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
}

/// SOCKS5 reply codes (RFC 1928 section 6).
const SOCKS_OK: u8 = 0;
const SOCKS_CONNECTION_REFUSED: u8 = 5;
const SOCKS_COMMAND_NOT_SUPPORTED: u8 = 7;
const SOCKS_ADDRESS_NOT_SUPPORTED: u8 = 8;

/// One client connection of the SOCKS5 server.
async fn socks5_connection(mut client: TcpStream, seen: Relay) -> std::io::Result<()> {
    // Greeting: VER NMETHODS METHODS...
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    if greeting[0] != 5 {
        return Ok(());
    }
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        // No acceptable method.
        client.write_all(&[5, 0xFF]).await?;
        return Ok(());
    }
    client.write_all(&[5, 0]).await?;

    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let len = client.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            format!("[{}]", Ipv6Addr::from(ip))
        }
        _ => return socks_reply(&mut client, SOCKS_ADDRESS_NOT_SUPPORTED).await,
    };
    let port = client.read_u16().await?;
    if request[1] != 1 {
        return socks_reply(&mut client, SOCKS_COMMAND_NOT_SUPPORTED).await;
    }
    let target = format!("{host}:{port}");
    seen.asked(target.clone());
    match TcpStream::connect(&target).await {
        Ok(upstream) => {
            socks_reply(&mut client, SOCKS_OK).await?;
            seen.pipe(client, upstream).await
        }
        Err(_) => socks_reply(&mut client, SOCKS_CONNECTION_REFUSED).await,
    }
}

/// A SOCKS5 reply with `code` and an all-zero bound address.
async fn socks_reply(client: &mut TcpStream, code: u8) -> std::io::Result<()> {
    client.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

/// A `http://127.0.0.1:P` URL where nothing listens: a proxy that is down.
pub fn dead_proxy_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    format!("http://127.0.0.1:{port}")
}
