//! Compiles the public contract in `proto/` with protox (pure Rust, no system `protoc`) into
//! prost/tonic code, and writes the encoded descriptor set for prost-reflect and gRPC reflection.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "ketenpoort/v1/options.proto",
    "ketenpoort/v1/gateway.proto",
    "ketenpoort/v1/audit.proto",
    "ketenpoort/v1/admin.proto",
    "ketenpoort/v1/policy.proto",
    "ketenpoort/v1/monitor.proto",
    "ketenpoort/v1/signals.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(PROTOS)?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Encoded by protox itself: prost-types would drop the custom options (sensitivity).
    fs::write(
        out.join("ketenpoort_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
