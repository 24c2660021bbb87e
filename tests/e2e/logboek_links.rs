//! The registry knows where partners keep their own Logboek Dataverwerkingen: a URL seeded
//! from `partners.toml` or set through `AdminService` over mutual TLS, checked (https only, no
//! secrets in it, never echoed), and the read API links each delivery to its receiver's.

use ketenpoort::api::proto::{
    AddPartnerRequest, GetPartnerRequest, SetLogboekUrlRequest,
    admin_service_client::AdminServiceClient,
};
use serde_json::Value;
use tonic::{Code, transport::Channel};

use crate::{
    console::{console_port, gateway, records_of},
    logboek::call,
    support::{Harness, INTAKE},
};

/// DT&V's URL in `config/partners.toml`, seeded into the registry.
const DTV_URL: &str = "https://logboek.dtv.example.invalid/ldv/v1";
/// The NGO's, set by an operator.
const NGO_URL: &str = "https://logboek.ngo.example.invalid/v1";
/// The link's attribute in an LDV record (an extension: the standard has none).
const LINK: &str = "ketenpoort.receiver_logboek_url";

async fn admin(h: &Harness) -> AdminServiceClient<Channel> {
    AdminServiceClient::new(h.channel("beheer").await)
}

fn op<T>(h: &Harness, message: T) -> tonic::Request<T> {
    h.with_token("beheer", "ops@beheer.example", message)
}

/// The delivery records of one trace, by receiver OIN, as the read API answers them.
async fn deliveries(h: &Harness, trace_id: &str) -> Vec<(String, Value)> {
    let path = format!("/logboek/v1/records?trace_id={trace_id}");
    let (status, answer) = call(h, "GET", &path, Some(("programma-fg", "fg")), None).await;
    assert_eq!(status, 200, "{answer}");
    answer["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "delivery_created")
        .map(|r| {
            let receiver = r["attributes"]["ketenpoort.counterparty_oin"].as_str();
            (receiver.unwrap().to_string(), r["attributes"].clone())
        })
        .collect()
}

#[tokio::test]
async fn each_delivery_links_to_the_receivers_read_api_when_the_registry_knows_it() {
    let h = gateway().await;
    assert!(console_port(&h) > 0);
    let mut admin = admin(&h).await;
    let set = SetLogboekUrlRequest {
        id: "ngo-begeleiding".into(),
        logboek_url: NGO_URL.into(),
        expected_version: 0,
    };
    let ngo = admin.set_logboek_url(op(&h, set)).await.unwrap();
    let ngo = ngo.into_inner().partner.unwrap();
    assert_eq!(ngo.logboek_url, NGO_URL);
    let dtv = admin
        .get_partner(op(&h, GetPartnerRequest { id: "dtv".into() }))
        .await
        .unwrap()
        .into_inner()
        .partner
        .unwrap();
    assert_eq!(dtv.logboek_url, DTV_URL, "seeded from partners.toml");
    let change = records_of(&h, "registry_changed").await.pop().unwrap();
    assert_eq!(change.record.event.detail["action"], "logboek_url_set");

    let mut utrecht = h.client("gemeente-utrecht").await;
    let request = h.request(
        "linked",
        "INTAKE",
        &["dtv", "ngo-begeleiding", "politie-avim"],
        "Intake",
        INTAKE,
    );
    utrecht.send(request).await.unwrap();
    let accepted = records_of(&h, "signal_accepted").await.pop().unwrap();
    let trace_id = accepted.record.event.trace.trace_id.unwrap();
    let found = deliveries(&h, &trace_id).await;
    assert_eq!(found.len(), 3, "{found:#?}");
    for (receiver, attributes) in &found {
        let expected = match receiver {
            r if *r == h.oin("dtv") => Some(DTV_URL),
            r if *r == h.oin("ngo-begeleiding") => Some(NGO_URL),
            _ => None,
        };
        assert_eq!(
            attributes[LINK].as_str(),
            expected,
            "{receiver}: {attributes}"
        );
    }

    // Cleared, the link is gone from the same records.
    let clear = SetLogboekUrlRequest {
        id: "ngo-begeleiding".into(),
        logboek_url: String::new(),
        expected_version: ngo.version,
    };
    let cleared = admin.set_logboek_url(op(&h, clear)).await.unwrap();
    assert_eq!(cleared.into_inner().partner.unwrap().logboek_url, "");
    let found = deliveries(&h, &trace_id).await;
    let ngo_link = found
        .iter()
        .find(|(r, _)| *r == h.oin("ngo-begeleiding"))
        .map(|(_, a)| a[LINK].clone());
    assert_eq!(ngo_link, Some(Value::Null));
}

#[tokio::test]
async fn a_url_that_is_not_plain_https_is_refused_without_echoing_it() {
    let h = Harness::start().await;
    let mut admin = admin(&h).await;
    for (url, hint) in [
        ("http://logboek.secret-host.example.invalid/v1", "https://"),
        (
            "https://user:s3cret@logboek.example.invalid/v1",
            "user name or password",
        ),
        ("https://logboek.example.invalid/v1?token=s3cret", "query"),
    ] {
        let set = SetLogboekUrlRequest {
            id: "dtv".into(),
            logboek_url: url.into(),
            expected_version: 0,
        };
        let status = admin.set_logboek_url(op(&h, set)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{url}");
        assert!(status.message().contains(hint), "{}", status.message());
        for secret in ["secret-host", "s3cret", url] {
            assert!(!status.message().contains(secret), "{}", status.message());
        }
        let add = AddPartnerRequest {
            id: "gemeente-zwolle".into(),
            oin: "00000099300000050000".into(),
            name: "Gemeente Zwolle".into(),
            role: "municipality".into(),
            purposes: vec!["CASE_DIRECTION".into()],
            logboek_url: url.into(),
            ..Default::default()
        };
        let status = admin.add_partner(op(&h, add)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{url}");
        assert!(!status.message().contains(url));
    }
    // Nothing changed, and the refusals are audited without the URL.
    let dtv = admin
        .get_partner(op(&h, GetPartnerRequest { id: "dtv".into() }))
        .await
        .unwrap()
        .into_inner()
        .partner
        .unwrap();
    assert_eq!(dtv.logboek_url, DTV_URL);
    let refusals = records_of(&h, "admin_refused").await;
    assert_eq!(refusals.len(), 6);
    let logged = serde_json::to_string(&refusals).unwrap();
    assert!(!logged.contains("s3cret") && !logged.contains("secret-host"));
}
