//! Defaults, unknown keys and validation of the settings.
use std::path::Path;

use super::*;

#[test]
fn empty_file_gives_the_embedded_defaults() {
    let config: Config = toml::from_str("").unwrap();
    assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.server.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(config.store.url, DEFAULT_DATABASE_URL);
    assert_eq!(config.dev_pki_dir(), Some(Path::new(DEFAULT_DEV_PKI_DIR)));
}

#[test]
fn unknown_keys_are_refused() {
    let err = toml::from_str::<Config>("[server]\nlisten_on = \"x\"").unwrap_err();
    assert!(err.to_string().contains("listen_on"), "{err}");
}

#[test]
fn validation_reports_every_problem() {
    let mut config = Config::default();
    config.server.max_message_bytes = 10;
    config.store.url = "mysql://x".into();
    let err = config
        .validate(Path::new("k.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.max_message_bytes"), "{err}");
    assert!(err.contains("store.url"), "{err}");
}

#[test]
fn trace_export_is_off_unless_an_endpoint_is_given() {
    let config: Config = toml::from_str("").unwrap();
    assert_eq!(config.telemetry.otlp_endpoint, None);
    assert_eq!(config.telemetry.service_name, DEFAULT_SERVICE_NAME);
    let config: Config =
        toml::from_str("[telemetry]\notlp_endpoint = \"http://127.0.0.1:4317\"").unwrap();
    config.validate(Path::new("k.toml")).unwrap();
}

#[test]
fn a_bad_otlp_endpoint_is_named_with_its_key() {
    for bad in [
        "127.0.0.1:4317",
        "not a url",
        "https://collector:4317",
        "http://",
    ] {
        let mut config = Config::default();
        config.telemetry.otlp_endpoint = Some(bad.into());
        let err = config
            .validate(Path::new("k.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("telemetry.otlp_endpoint"), "{bad}: {err}");
    }
}
