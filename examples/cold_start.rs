//! Cold start: time from spawning a server process to its first expected answer (by default the
//! first `302` from `/api/login`), repeated; prints every sample's median and p90.
//!
//! usage: cold_start [--runs 25] [--path /api/login] [--expect 302] [--port-env NAME]
//!                   [--timeout-ms 20000] -- COMMAND [ARGS...]
//!
//! Each run picks a free port on 127.0.0.1, replaces `{port}` in COMMAND and ARGS with it (and, with
//! `--port-env NAME`, sets the environment variable NAME to it), spawns the command in its own
//! process group, then connects and sends `GET <path>` as fast as it can (a failed connect is retried
//! after 200 µs) until a response with the expected status arrives. The time from just before the
//! spawn to the status line is the sample. The whole process group is then killed (SIGKILL).
//!
//! Examples (what bench/run.sh runs):
//!   cold_start --port-env FUNCTIONS_CUSTOMHANDLER_PORT -- target/release/entra-sso serve
//!   cold_start --path /microsoft_sso/login/ -- bench/.venv/bin/gunicorn -b 127.0.0.1:{port} …

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--").expect("usage: cold_start [options] -- COMMAND [ARGS...]");
    let (opts, command) = (&args[..split], &args[split + 1..]);
    assert!(!command.is_empty(), "no command after --");
    let opt = |name: &str| opts.iter().position(|a| a == name).map(|i| opts[i + 1].clone());
    let runs: usize = opt("--runs").map_or(25, |v| v.parse().unwrap());
    let path = opt("--path").unwrap_or_else(|| "/api/login".into());
    let expect: u16 = opt("--expect").map_or(302, |v| v.parse().unwrap());
    let port_env = opt("--port-env");
    let timeout = Duration::from_millis(opt("--timeout-ms").map_or(20_000, |v| v.parse().unwrap()));

    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs {
        let port = free_port();
        let subst = |s: &String| s.replace("{port}", &port.to_string());
        let mut cmd = Command::new(subst(&command[0]));
        cmd.args(command[1..].iter().map(subst)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(name) = &port_env {
            cmd.env(name, port.to_string());
        }
        cmd.process_group(0);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let start = Instant::now();
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", command[0]));
        let result = first_answer(addr, &path, expect, start, timeout);
        // SAFETY: kill(2) on the process group this run created; no memory is involved.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let mut child = child;
        let _ = child.wait();
        match result {
            Ok(t) => samples.push(t),
            Err(e) => {
                eprintln!("cold_start: run {run}: {e}");
                std::process::exit(1);
            }
        }
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "cold_start runs={} median_ms={:.2} p90_ms={:.2} min_ms={:.2} max_ms={:.2}",
        samples.len(),
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    );
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// Polls until `GET path` answers with `expect`; returns the time since `start`.
fn first_answer(
    addr: SocketAddr,
    path: &str,
    expect: u16,
    start: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n", addr.port());
    let mut last = String::from("no connection");
    while start.elapsed() < timeout {
        match TcpStream::connect(addr) {
            Err(e) => last = e.to_string(),
            Ok(mut s) => {
                let _ = s.set_nodelay(true);
                match status(&mut s, &request) {
                    Ok(code) if code == expect => return Ok(start.elapsed()),
                    Ok(code) => last = format!("status {code}"),
                    Err(e) => last = e.to_string(),
                }
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Err(format!("no {expect} from http://{addr}{path} within {timeout:?} (last: {last})"))
}

/// Sends the request and reads the status code of the answer.
fn status(s: &mut TcpStream, request: &str) -> std::io::Result<u16> {
    s.write_all(request.as_bytes())?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let k = s.read(&mut buf[n..])?;
        if k == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before the status line"));
        }
        n += k;
    }
    let line = std::str::from_utf8(&buf[..n]).unwrap_or("");
    line.get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP status line"))
}
