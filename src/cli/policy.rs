//! Reviewing the policy: `policy check` and `policy explain`.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Subcommand;
use ketenpoort::{
    catalogue::Catalogue,
    policy::{Policy, Withheld},
    registry,
};

use super::output::outln;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file; prints every problem with rule and field.
    Check {
        /// The policy file.
        #[arg(default_value = "config/policy.toml")]
        file: PathBuf,
        /// The partner registry to check purposes against.
        #[arg(long, default_value = "config/partners.toml")]
        partners: PathBuf,
    },
    /// Show, per receiving purpose, which fields of a signal pass and which are withheld, and why.
    Explain {
        /// Sender role: municipality, dtv, ind, police, ngo or monitor.
        #[arg(long = "from")]
        role: registry::Role,
        /// Catalogue signal type, e.g. Intake.
        #[arg(long = "type")]
        signal_type: String,
        /// Sending purpose code, e.g. INTAKE.
        #[arg(long)]
        purpose: String,
        /// The policy file.
        #[arg(long, default_value = "config/policy.toml")]
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a policy subcommand.
pub fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Check { file, partners } => check(&file, &partners),
        PolicyCommand::Explain {
            role,
            signal_type,
            purpose,
            file,
            json,
        } => explain(&file, role, &signal_type, &purpose, json),
    }
}

fn check(file: &Path, partners: &Path) -> anyhow::Result<ExitCode> {
    let catalogue = Catalogue::load()?;
    let policy = match Policy::load(file, &catalogue) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let defs = registry::load_definitions(partners)?;
    let problems: Vec<String> = defs
        .iter()
        .flat_map(|p| {
            p.purposes
                .iter()
                .filter(|code| policy.purpose(code).is_none())
                .map(move |code| format!("partner {} receives for undefined purpose {code}", p.id))
        })
        .collect();
    if !problems.is_empty() {
        eprintln!("{}", problems.join("\n"));
        return Ok(ExitCode::FAILURE);
    }
    outln!(
        "{}: valid ({} purposes, {} rules, version {})",
        file.display(),
        policy.purposes().count(),
        policy.rules().len(),
        policy.version()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn explain(
    file: &Path,
    role: registry::Role,
    signal_type: &str,
    purpose: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let catalogue = Catalogue::load()?;
    let policy = Policy::load(file, &catalogue)?;
    let explanation = match policy.explain(&catalogue, role, signal_type, purpose) {
        Ok(explanation) => explanation,
        Err(denied) => {
            eprintln!("{denied}: every field is withheld from everyone");
            return Ok(ExitCode::FAILURE);
        }
    };
    let rule = &explanation.rule;
    let reason = |why: Withheld, code: &str| match why {
        Withheld::NotAllowlisted => format!("not in the allowlist of {code}"),
        Withheld::Biometric => "biometric: never passes (Vw 2000 art. 107 lid 4)".to_string(),
    };
    if json {
        let purposes: Vec<serde_json::Value> = explanation
            .purposes
            .iter()
            .map(|view| {
                let code = &view.purpose.code;
                serde_json::json!({
                    "purpose": code,
                    "legal_basis": view.purpose.legal_basis,
                    "passes": view.passes.iter().map(|(path, classes)| serde_json::json!({
                        "field": path,
                        "classes": classes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "withheld": view.withheld.iter().map(|(path, why)| serde_json::json!({
                        "field": path,
                        "reason": reason(*why, code),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "rule": rule.name,
            "legal_instrument": rule.legal_instrument,
            "provision_decision": rule.provision_decision,
            "policy_version": policy.version(),
            "purposes": purposes,
        });
        outln!("{out:#}")?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "rule {}: a {} sends {} for {}",
        rule.name,
        rule.sender_role,
        rule.signal,
        rule.purpose
    )?;
    outln!("legal instrument: {}", rule.legal_instrument)?;
    if let Some(decision) = &rule.provision_decision {
        outln!("provision decision: {decision}")?;
    }
    outln!("policy version: {}", policy.version())?;
    for view in &explanation.purposes {
        let p = &view.purpose;
        let covers: Vec<String> = p
            .special_categories
            .iter()
            .map(ToString::to_string)
            .collect();
        outln!()?;
        outln!("{} ({})", p.code, p.name)?;
        outln!("  legal basis: {}", p.legal_basis)?;
        outln!(
            "  special categories covered: {}",
            if covers.is_empty() {
                "none".to_string()
            } else {
                covers.join(", ")
            }
        )?;
        let width = view
            .passes
            .iter()
            .map(|(path, _)| path.len())
            .chain(view.withheld.iter().map(|(path, _)| path.len()))
            .max()
            .unwrap_or(0);
        for (path, classes) in &view.passes {
            let classes: Vec<String> = classes.iter().map(ToString::to_string).collect();
            outln!("  passes    {path:width$}  {}", classes.join(", "))?;
        }
        for (path, why) in &view.withheld {
            outln!("  withheld  {path:width$}  {}", reason(*why, &p.code))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
