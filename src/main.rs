//! The `ketenpoort` command: the gateway (`serve`, `dev-init`), policy review (`policy`), a
//! partner-side client (`send`, `receive`), the privacy officer's tools (`audit`), the
//! operator's (`partner`), the programme monitor's (`monitor`), development tokens
//! (`dev-token`), and a load benchmark of a running gateway (`bench`). A thin layer over the
//! library; each group lives in `src/cli/`.

mod cli;

/// jemalloc instead of the system allocator: a `Send` allocates and frees a few hundred small
/// objects (decoding, filtering, audit records, statements), and glibc's malloc took about a
/// tenth of the gateway's CPU under load. mimalloc was as fast but held half as much memory
/// again as jemalloc (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::{io, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use ketenpoort::config::DEFAULT_CONFIG_FILE;

use cli::{
    audit::AuditCommand,
    bench::BenchArgs,
    gateway::LogFormat,
    monitor::MonitorCommand,
    operator::PartnerCommand,
    partner::{ReceiveArgs, SendArgs},
    policy::PolicyCommand,
    status::StatusArgs,
    store::StoreCommand,
    token::DevTokenArgs,
};

#[derive(Parser)]
#[command(
    name = "ketenpoort",
    version,
    about = "Secure, purpose-bound exchange of LVV case signals"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (embedded defaults: 127.0.0.1:8443, var/ketenpoort.db, dev PKI in var/dev-pki).
    Serve {
        /// Settings file; defaults apply when it is absent.
        #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
        config: PathBuf,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Write a development PKI: a CA, the gateway certificate and one certificate per partner,
    /// the audit keys, and a JWT key pair per officer, operator and monitor.
    DevInit {
        /// Settings file (for the partner registry and PKI directory).
        #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
        config: PathBuf,
        /// Directory to write to; defaults to the settings' tls.dev_pki_dir.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Replace an existing PKI.
        #[arg(long)]
        force: bool,
    },
    /// Issue a development certificate with the development CA (for trying out
    /// registration and rotation; test OINs only).
    DevCert {
        /// The partner's OIN (test OIN, prefix 00000099).
        #[arg(long)]
        oin: String,
        /// Organisation name for the subject.
        #[arg(long)]
        name: String,
        /// File name (without .pem/.key), e.g. the partner id, or dtv-2027 for a rotation.
        #[arg(long)]
        file_name: String,
        /// Days of validity.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// Directory of the development PKI.
        #[arg(long, default_value = "var/dev-pki")]
        dir: PathBuf,
    },
    /// Review the policy: check a file, or explain what a rule releases to whom.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// What the gateway's database holds, and since when (privacy officers, operators).
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Send one signal as a partner.
    Send(SendArgs),
    /// Receive deliveries as a partner: prints each as a JSON line and acknowledges it; stops
    /// when the waiting deliveries are done, unless --follow.
    Receive(ReceiveArgs),
    /// What became of a signal you sent: per recipient pending, streamed, acknowledged or
    /// expired.
    Status(StatusArgs),
    /// Read, report on, verify and export the audit log (privacy officers).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Register partners and manage their certificates (operators).
    Partner {
        #[command(subcommand)]
        command: PartnerCommand,
    },
    /// Mint a development JWT naming the person behind an officer's or operator's requests.
    DevToken(DevTokenArgs),
    /// The programme monitor's figures per LVV region, without personal data (monitor role).
    Monitor {
        #[command(subcommand)]
        command: MonitorCommand,
    },
    /// Drive a running gateway over mTLS as several partners (a catalogue signal mix,
    /// subscribers that acknowledge) and report throughput, latencies, errors, and the
    /// gateway's CPU and memory.
    Bench(BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        // The reader of our output has gone (`ketenpoort audit query | head -1`): it has
        // what it wanted, so end quietly, as a command in a pipeline should.
        Err(e) if reader_left(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` is, or was caused by, writing to a pipe whose reader has closed it.
fn reader_left(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, log_format } => cli::gateway::serve(&config, log_format).await,
        Command::DevInit { config, dir, force } => cli::gateway::dev_init(&config, dir, force),
        Command::DevCert {
            oin,
            name,
            file_name,
            days,
            dir,
        } => cli::gateway::dev_cert(&dir, &oin, &name, &file_name, days),
        Command::Policy { command } => cli::policy::run(command),
        Command::Store { command } => cli::store::run(command).await,
        Command::Send(args) => cli::partner::send(args).await,
        Command::Receive(args) => cli::partner::receive(args).await,
        Command::Status(args) => cli::status::run(args).await,
        Command::Audit { command } => cli::audit::run(command).await,
        Command::Partner { command } => cli::operator::run(command).await,
        Command::DevToken(args) => cli::token::dev_token(&args),
        Command::Monitor { command } => cli::monitor::run(command).await,
        Command::Bench(args) => cli::bench::run(args).await,
    }
}
