//! The real `ketenpoort` binary refuses to start on bad `[console]` settings or a policy whose
//! deferral marks name what does not exist: it exits non-zero, before it serves, with a
//! message naming each key to fix and never repeating a value that may be a secret.

use std::process::{Command, Output};

use crate::cli::{BIN, free_port};

/// Runs `ketenpoort serve` in a fresh directory with the default registry, `policy` (the
/// default when `None`) and `settings`; returns how it ended, after at most a few seconds.
fn serve_with(settings: &str, policy: Option<&str>) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::copy(
        "config/partners.toml",
        dir.path().join("config/partners.toml"),
    )
    .unwrap();
    let default_policy = std::fs::read_to_string("config/policy.toml").unwrap();
    std::fs::write(
        dir.path().join("config/policy.toml"),
        policy.unwrap_or(&default_policy),
    )
    .unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join("config/ketenpoort.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[metrics]\nlisten = \"\"\n\n{settings}"
        ),
    )
    .unwrap();
    let output = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after a refused start"
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_console_settings_are_refused_with_what_to_fix() {
    let output = serve_with(
        "[console]\nlisten = \"127.0.0.1:0\"\nsession_lifetime_secs = 0\n\
         deferral_days = 30\n\
         processing_activities = { RETURN = \"http://register.secret.example/return\" }\n",
        None,
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(78), "{message}");
    assert!(message.contains("Invalid configuration"), "{message}");
    assert!(
        message.contains("console.session_lifetime_secs must be at least 1"),
        "{message}"
    );
    assert!(
        message.contains("console.deferral_days has moved to the policy file"),
        "{message}"
    );
    assert!(
        message.contains("console.processing_activities.RETURN must be an https:// URI"),
        "{message}"
    );
    assert!(!message.contains("register.secret.example"), "{message}");
}

#[test]
fn a_processing_register_purpose_the_policy_lacks_is_refused() {
    let output = serve_with(
        "[console]\nlisten = \"127.0.0.1:0\"\n\
         processing_activities = { NO_SUCH_PURPOSE = \"https://register.example.nl/x\" }\n",
        None,
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(78), "{message}");
    assert!(
        message.contains(
            "console.processing_activities: NO_SUCH_PURPOSE is not a purpose of the policy"
        ),
        "{message}"
    );
}

#[test]
fn a_deferral_of_an_unknown_signal_is_refused() {
    let policy = std::fs::read_to_string("config/policy.toml").unwrap()
        + "\n[[deferral]]\nsignal = \"NoSuchSignal\"\ndays = 30\nbasis = \"Wpg art. 27\"\n";
    let output = serve_with("", Some(&policy));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(78), "{message}");
    assert!(
        message.contains("deferral 4: signal NoSuchSignal is not in the catalogue"),
        "{message}"
    );
}
