//! Cost of the purpose-bound field filter alone: no network, no decode, no store. `Send` must
//! stay in microseconds apart from its commit (DESIGN.md, "The cost of durability"), so the
//! filter's budget is well under 10 µs per receiver.
//!
//! Scenarios, all on one fully populated `Intake` (two names, one nationality, a BSN) sent by a
//! municipality under the default policy (`config/policy.toml`):
//!
//! - `filter_intake_per_receiver/GUIDANCE`: one NGO recipient, whose purpose withholds the
//!   V-nummer, BSN and nationalities, so the copy is pruned and a withheld list is built.
//! - `filter_intake_per_receiver/RETURN`: one DT&V recipient, allowed every field: the cost of
//!   copying alone.
//! - `filter_intake_4_recipients`: DT&V, IND, police AVIM and the NGO, the receivers the LVV
//!   catalogue names for an intake besides case direction: the filtering of one `Send`.
//!
//! Each copy is cut from the encoding as sent (as `Send` does), not built and encoded again.
//!   Criterion reports it per recipient as well (throughput of 4 elements per iteration).

// Test code: a failed unwrap is a failed test or benchmark, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{hint::black_box, path::Path};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ketenpoort::{
    catalogue::Catalogue,
    filter,
    ids::Oin,
    policy::{Permit, Policy},
    registry::{self, Registry},
};
use prost::Message as _;
use prost_reflect::DynamicMessage;

/// The intake every scenario filters: every field set, as a municipality sends it.
const INTAKE: &str = r#"{
  "person": {
    "vNummer": "1234567890",
    "bsn": "123456782",
    "names": [{"givenNames": "Testa", "surname": "Persoon"}, {"givenNames": "T.", "surname": "Alias", "isAlias": true}],
    "birthDate": "1990-01-01",
    "nationalities": ["SOM"]
  },
  "intakeDate": "2026-11-20",
  "intakeLocation": "GM0344 LVV Utrecht",
  "participationAgreed": true
}"#;

/// The default policy and registry (without reading certificates), and the payload.
struct Fixture {
    policy: Policy,
    registry: Registry,
    payload: DynamicMessage,
    /// The payload as sent.
    encoded: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let catalogue = Catalogue::load().unwrap();
        let policy = Policy::load(Path::new("config/policy.toml"), &catalogue).unwrap();
        let partners = Path::new("config/partners.toml");
        let mut defs = registry::load_definitions(partners).unwrap();
        for def in &mut defs {
            def.certificates.clear();
        }
        let registry = Registry::build(partners, defs).unwrap();
        let intake = catalogue.signal("Intake").unwrap().clone();
        let mut json = serde_json::Deserializer::from_str(INTAKE);
        let payload = DynamicMessage::deserialize(intake, &mut json).unwrap();
        Self {
            policy,
            registry,
            encoded: payload.encode_to_vec(),
            payload,
        }
    }

    /// The permit for an intake from gemeente-utrecht to the partners `recipients`.
    fn permit(&self, recipients: &[&str]) -> Permit {
        let sender = self.registry.by_id("gemeente-utrecht").unwrap();
        let oins: Vec<Oin> = recipients
            .iter()
            .map(|id| self.registry.by_id(id).unwrap().oin.clone())
            .collect();
        self.policy
            .authorize(&self.registry, sender, "Intake", "INTAKE", &oins)
            .unwrap()
    }
}

fn filter_intake(c: &mut Criterion) {
    let fixture = Fixture::new();
    let mut group = c.benchmark_group("filter_intake_per_receiver");
    for (purpose, recipient) in [("GUIDANCE", "ngo-begeleiding"), ("RETURN", "dtv")] {
        let permit = fixture.permit(&[recipient]);
        group.bench_function(purpose, |b| {
            b.iter(|| {
                filter::apply(black_box(&permit), &fixture.payload, &fixture.encoded).unwrap()
            })
        });
    }
    group.finish();

    let permit = fixture.permit(&["dtv", "ind", "politie-avim", "ngo-begeleiding"]);
    let mut group = c.benchmark_group("filter_intake_4_recipients");
    group.throughput(Throughput::Elements(4));
    group.bench_function("dtv_ind_avim_guidance", |b| {
        b.iter(|| filter::apply(black_box(&permit), &fixture.payload, &fixture.encoded).unwrap())
    });
    group.finish();
}

criterion_group!(benches, filter_intake);
criterion_main!(benches);
