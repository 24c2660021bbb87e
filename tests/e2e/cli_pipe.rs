//! The command line ends quietly when its reader goes away: `ketenpoort audit query --json |
//! head -1` exits with success and prints nothing on stderr, instead of panicking on a broken
//! pipe.

use std::{
    io::{BufRead as _, BufReader, Read as _},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::support::Harness;

const BIN: &str = env!("CARGO_BIN_EXE_ketenpoort");

/// How long the command may take to print its first line, and then to exit.
const LIMIT: Duration = Duration::from_secs(20);

/// Signals sent before the query; each leaves three audit records.
const SIGNALS: usize = 120;

/// Far more than a pipe holds (64 KiB on Linux), so that the command is still writing when its
/// reader leaves, however fast it is.
const AT_LEAST: usize = 4 * 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_output_pipe_ends_the_command_quietly_and_successfully() {
    let h = Harness::start().await;
    let mut utrecht = h.client("gemeente-utrecht").await;
    for i in 0..SIGNALS {
        h.send_intake(
            &mut utrecht,
            &format!("pipe-{i}"),
            &["dtv", "ngo-begeleiding"],
        )
        .await;
    }
    let args: Vec<String> = [
        "audit",
        "query",
        "--gateway",
        &h.endpoint(),
        "--as",
        "programma-fg",
        "--pki",
        &h.pki().display().to_string(),
        "--json",
    ]
    .map(String::from)
    .into();
    let dir = h.dir.path().to_path_buf();
    let (whole, (first, status, stderr)) = tokio::task::spawn_blocking(move || {
        (
            whole_output(&dir, &args),
            first_line_then_close(&dir, &args),
        )
    })
    .await
    .unwrap();
    assert!(
        whole >= AT_LEAST,
        "the query printed only {whole} bytes: too little to outlast the pipe"
    );
    let record: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert!(record["seq"].is_u64(), "first line: {first:?}");
    assert!(
        !stderr.contains("panicked"),
        "the command panicked: {stderr}"
    );
    assert!(status.success(), "the command failed ({status}): {stderr}");
    assert!(stderr.is_empty(), "the command wrote to stderr: {stderr}");
}

/// How many bytes `ketenpoort args` prints when it is read to the end.
fn whole_output(dir: &Path, args: &[String]) -> usize {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ketenpoort {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len()
}

/// Runs `ketenpoort args` in `dir` with its output piped, reads its first line, closes the
/// pipe, and waits for it to exit; returns that line, how it exited and its stderr. Kills it and
/// fails when it takes longer than [`LIMIT`] for either.
fn first_line_then_close(dir: &Path, args: &[String]) -> (String, ExitStatus, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    // The reader closes the pipe as soon as it has the first line.
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    let first = match receiver.recv_timeout(LIMIT) {
        Ok(line) => line,
        Err(_) => fail(child, "print its first line"),
    };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            fail(child, "exit after its reader left");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (first, status, stderr)
}

fn fail(mut child: Child, what: &str) -> ! {
    let _ = child.kill();
    let _ = child.wait();
    panic!("the command did not {what} within {LIMIT:?}");
}
