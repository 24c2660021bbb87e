//! The README's commands, run as a new user would: the `ketenpoort` binary serving on its
//! defaults (a development PKI it creates itself, SQLite, the LVV policy) in a fresh
//! directory, then `send`, `receive` and `audit report` against it.

use std::{
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_ketenpoort");

/// `ketenpoort serve` in a fresh directory holding the default registry and policy in
/// `config/`; killed when dropped.
pub struct Served {
    pub dir: TempDir,
    pub port: u16,
    child: Child,
}

impl Served {
    /// Starts the binary on its defaults, except for a free port, no metrics listener, and
    /// `settings` (more TOML) added to its configuration; returns once it accepts connections.
    /// Its log goes to `serve.log` in the directory.
    pub fn start(settings: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        for file in ["partners.toml", "policy.toml"] {
            std::fs::copy(
                Path::new("config").join(file),
                dir.path().join("config").join(file),
            )
            .unwrap();
        }
        // The defaults, except for ports that cannot collide with a gateway already running here.
        let port = free_port();
        std::fs::write(
            dir.path().join("config/ketenpoort.toml"),
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[metrics]\nlisten = \"\"\n{settings}"
            ),
        )
        .unwrap();
        let child = spawn(dir.path());
        let served = Served { dir, port, child };
        served.wait_until_serving();
        served
    }

    /// Kills the gateway with SIGKILL (no chance to finish anything) and starts it again in
    /// the same directory, on the same port; returns once it accepts connections.
    pub fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn(self.dir.path());
        self.wait_until_serving();
    }

    fn wait_until_serving(&self) {
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the gateway did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn gateway(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// What the gateway has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Stops the gateway as an operator does (SIGTERM) and waits, at most `limit`, for it to
    /// exit.
    pub fn stop(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the gateway did not stop within {limit:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ketenpoort serve` in `dir`, its log appended to `serve.log` there.
fn spawn(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .unwrap();
    Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `ketenpoort args` in `dir`; returns what it printed, or fails the test when it fails.
pub fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ketenpoort {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_readme_flow_works_on_a_fresh_directory() {
    let served = Served::start("");
    let dir = &served.dir;
    assert!(dir.path().join("var/dev-pki/gemeente-utrecht.pem").exists());
    assert!(dir.path().join("var/ketenpoort.db").exists());

    let gateway = served.gateway();
    let receipt = run(
        dir.path(),
        &[
            "send",
            "--gateway",
            &gateway,
            "--as",
            "gemeente-utrecht",
            "--type",
            "Intake",
            "--purpose",
            "INTAKE",
            "--case-ref",
            "LVV-UTR-2026-0042",
            "--to",
            "dtv",
            "--to",
            "ngo-begeleiding",
            "--json",
            r#"{"person": {"vNummer": "1234567890", "bsn": "123456782",
                "names": [{"givenNames": "Amina", "surname": "Voorbeeld"}],
                "birthDate": "1990-01-01", "nationalities": ["SOM"]},
                "intakeDate": "2026-11-20", "intakeLocation": "GM0344 LVV Utrecht",
                "participationAgreed": true}"#,
        ],
    );
    let receipt: serde_json::Value = serde_json::from_str(receipt.trim()).unwrap();
    assert_eq!(
        receipt["recipients"][1]["withheld_fields"],
        serde_json::json!(["person.bsn", "person.nationalities", "person.v_nummer"])
    );

    let received = run(
        dir.path(),
        &["receive", "--gateway", &gateway, "--as", "dtv"],
    );
    let line: serde_json::Value = serde_json::from_str(received.lines().next().unwrap()).unwrap();
    assert_eq!(line["payload"]["person"]["vNummer"], "1234567890");
    assert_eq!(line["case_ref"], "LVV-UTR-2026-0042");
    let again = run(
        dir.path(),
        &["receive", "--gateway", &gateway, "--as", "dtv"],
    );
    assert!(
        again.trim().is_empty(),
        "acknowledged deliveries came back: {again}"
    );

    let report = run(
        dir.path(),
        &[
            "audit",
            "report",
            "--gateway",
            &gateway,
            "--as",
            "programma-fg",
            "--case-ref",
            "LVV-UTR-2026-0042",
        ],
    );
    assert!(
        report.contains("Dienst Terugkeer en Vertrek was given Intake for RETURN"),
        "{report}"
    );
    assert!(
        report.contains("Dienst Terugkeer en Vertrek confirmed receipt of Intake"),
        "{report}"
    );
    let verified = run(
        dir.path(),
        &[
            "audit",
            "verify",
            "--gateway",
            &gateway,
            "--as",
            "programma-fg",
        ],
    );
    assert!(verified.starts_with("intact:"), "{verified}");
}
