//! Reading the gateway's TOML files (settings, registry, policy): one function, and errors
//! that name the file and, for a parse error, the line and key.

use std::path::{Path, PathBuf};

/// Why a TOML file (settings, registry, policy) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for what it should hold.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and key.
        source: Box<toml::de::Error>,
    },
}

/// Reads and deserializes a TOML file; returns its text too (for hashing).
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<(String, T), FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.into(),
        source,
    })?;
    let value = toml::from_str(&text).map_err(|e| FileError::Parse {
        path: path.into(),
        source: Box::new(e),
    })?;
    Ok((text, value))
}
