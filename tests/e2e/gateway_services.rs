//! The services around the exchange: health and reflection for tools, `PolicyService.WhatMayI`
//! for partners, and policy reload that applies only a policy passing every check.

use ketenpoort::api::proto::{WhatMayIRequest, policy_service_client::PolicyServiceClient};
use tokio_stream::StreamExt;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::{Harness, INTAKE};

#[tokio::test]
async fn health_and_reflection_answer_over_mtls() {
    let h = Harness::start().await;
    let mut health = HealthClient::new(h.channel("dtv").await);
    let status = health
        .check(HealthCheckRequest {
            service: "ketenpoort.v1.SignalService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    let mut reflection = ServerReflectionClient::new(h.channel("dtv").await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "ketenpoort.v1.SignalService",
        "ketenpoort.v1.PolicyService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn what_may_i_answers_for_the_callers_own_certificate() {
    let h = Harness::start().await;
    let mut ngo = PolicyServiceClient::new(h.channel("ngo-begeleiding").await);
    let answer = ngo
        .what_may_i(WhatMayIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.oin, h.oin("ngo-begeleiding"));
    assert_eq!(answer.role, "ngo");
    assert_eq!(answer.receiving_purposes, ["GUIDANCE"]);
    assert_eq!(answer.policy_version, h.gateway().policy_version());
    let intake = answer
        .may_send
        .iter()
        .find(|p| p.signal_type == "Intake")
        .expect("an NGO may report an intake");
    assert_eq!(intake.purpose, "INTAKE");
    let eligible: Vec<&str> = intake
        .eligible_recipients
        .iter()
        .map(|r| r.oin.as_str())
        .collect();
    assert!(eligible.contains(&h.oin("dtv").as_str()), "{eligible:?}");
    assert!(
        !eligible.contains(&h.oin("ngo-begeleiding").as_str()),
        "{eligible:?}"
    );
    assert!(
        !eligible.contains(&h.oin("programma-monitor").as_str()),
        "{eligible:?}"
    );
    assert!(
        answer
            .may_send
            .iter()
            .all(|p| p.signal_type != "CaseClosure")
    );
    let received = answer
        .receives
        .iter()
        .find(|r| r.rule == "intake-by-municipality")
        .expect("the NGO receives intakes from municipalities");
    assert_eq!(received.purposes, ["GUIDANCE"]);
    assert!(
        received
            .fields
            .contains(&"person.names.surname".to_string()),
        "{:?}",
        received.fields
    );
    assert!(
        !received
            .fields
            .iter()
            .any(|f| f.contains("bsn") || f.contains("v_nummer")),
        "{:?}",
        received.fields
    );
}

#[tokio::test]
async fn a_policy_reload_applies_only_a_policy_that_passes_every_check() {
    let h = Harness::start().await;
    let before = h.gateway().policy_version();
    let original = std::fs::read_to_string(h.policy_file()).unwrap();

    // A broken policy is refused with its reasons, and the policy in force stays.
    let broken = original.replacen(
        "fields = [\"person.*\"",
        "fields = [\"person.fingerprints\"",
        1,
    );
    assert_ne!(
        broken, original,
        "the default policy should release person.* somewhere"
    );
    std::fs::write(h.policy_file(), &broken).unwrap();
    let err = h.gateway().reload_policy().unwrap_err().to_string();
    assert!(
        err.contains("field person.fingerprints does not exist"),
        "{err}"
    );
    assert_eq!(h.gateway().policy_version(), before);
    let mut utrecht = h.client("gemeente-utrecht").await;
    h.send_intake(&mut utrecht, "still-works", &["dtv"]).await;

    // A valid change is applied, and exchanges follow it at once: without the
    // intake-by-municipality rule a municipality can no longer send an intake.
    let start = original.find("name = \"intake-by-municipality\"").unwrap();
    let next = original[start..].find("[[rule]]").unwrap() + start;
    let rule_start = original[..start].rfind("[[rule]]").unwrap();
    let without = format!("{}{}", &original[..rule_start], &original[next..]);
    std::fs::write(h.policy_file(), without).unwrap();
    let after = h.gateway().reload_policy().unwrap();
    assert_ne!(after, before);
    let status = utrecht
        .send(h.request("after-reload", "INTAKE", &["dtv"], "Intake", INTAKE))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
}
