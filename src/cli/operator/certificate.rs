//! The facts of a certificate file: read it, take its fingerprint, and show what it is
//! (subject, OIN, issuer, serial, validity, fingerprint) before anything changes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ketenpoort::{
    clock::{now_ms, rfc3339, unix_ms},
    exchange::lifecycle::inspect,
};

use crate::cli::output::outln;

/// A fingerprint as given, or the fingerprint of the certificate in a PEM file.
pub fn fingerprint_of(given: &str) -> anyhow::Result<String> {
    let path = Path::new(given);
    if path.is_file() {
        return Ok(inspect(&read_pem(&path.to_path_buf())?)?
            .info
            .fingerprint
            .to_string());
    }
    Ok(given.to_string())
}

/// The text of a PEM file.
pub fn read_pem(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Prints what the certificate is before anything changes.
pub fn show(pem: &str) -> anyhow::Result<()> {
    let info = inspect(pem)?.info;
    let now = now_ms();
    outln!("certificate to register:")?;
    outln!("  subject      {}", info.subject)?;
    outln!(
        "  OIN          {}",
        info.oin
            .map_or("(none in subject serialNumber)".into(), |o| o.to_string())
    )?;
    outln!("  issuer       {}", info.issuer)?;
    outln!("  serial       {}", info.serial)?;
    outln!(
        "  valid        {} .. {}{}",
        rfc3339(unix_ms(info.not_before)),
        rfc3339(unix_ms(info.not_after)),
        if unix_ms(info.not_after) < now {
            "  (EXPIRED)"
        } else {
            ""
        }
    )?;
    outln!("  fingerprint  {}", info.fingerprint)?;
    Ok(())
}
