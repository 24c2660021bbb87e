//! The scripted exchanges: signals sent through the real gateway, each tallied by the test
//! itself in the cells it must count in, with every case reference and payload value kept to
//! scan the outputs for.

use std::collections::BTreeMap;

use tonic::Code;

use super::client::quarter_now;
use crate::support::Harness;

/// The test's own tally of what the report must show, and everything it sent that must
/// never show.
#[derive(Default)]
pub struct Script {
    pub expected: BTreeMap<(String, String, String, String, String), u64>,
    pub secrets: Vec<String>,
    sent: usize,
}

/// Who sends to whom, under which purpose, and the region the signals count in.
struct Route<'a> {
    sender: &'a str,
    purpose: &'a str,
    to: &'a str,
    region: &'a str,
}

/// A municipality's case direction sending to DT&V.
fn from_city<'a>(sender: &'a str, region: &'a str) -> Route<'a> {
    Route {
        sender,
        purpose: "CASE_DIRECTION",
        to: "dtv",
        region,
    }
}

impl Script {
    /// The first quarter. Rotterdam: 10 reviews, 3 of them stuck; Utrecht: 12, 6 stuck;
    /// Amsterdam: 8, none stuck; Eindhoven: 2 (a small region). Identity doubts, closures
    /// and care signals in other regions. A resend and a refused signal count nothing.
    pub async fn first_quarter(&mut self, h: &Harness) {
        let s = self;
        let reviews = [
            (
                "gemeente-rotterdam",
                "Rotterdam",
                6,
                (true, false, "UNSPECIFIED", "LSO"),
            ),
            (
                "gemeente-rotterdam",
                "Rotterdam",
                1,
                (false, false, "UNSPECIFIED", "LSO"),
            ),
            (
                "gemeente-rotterdam",
                "Rotterdam",
                2,
                (true, true, "LEGAL", "STEERING_GROUP"),
            ),
            (
                "gemeente-rotterdam",
                "Rotterdam",
                1,
                (true, true, "OTHER", "STEERING_GROUP"),
            ),
            (
                "gemeente-utrecht",
                "Utrecht",
                6,
                (true, false, "UNSPECIFIED", "LSO"),
            ),
            (
                "gemeente-utrecht",
                "Utrecht",
                6,
                (true, true, "IDENTITY_OR_NATIONALITY", "PROGRAMME_COUNCIL"),
            ),
            (
                "gemeente-amsterdam",
                "Amsterdam",
                8,
                (true, false, "UNSPECIFIED", "LSO"),
            ),
            (
                "gemeente-eindhoven",
                "Eindhoven",
                2,
                (true, true, "OTHER", "LSO"),
            ),
        ];
        for (sender, region, n, review) in reviews {
            s.reviews(h, from_city(sender, region), n, review).await;
        }
        // DT&V's identity doubts count in the region of the municipality they go to.
        let doubts = [
            ("gemeente-groningen", "Groningen", 6, true),
            ("gemeente-groningen", "Groningen", 1, false),
            ("gemeente-rotterdam", "Rotterdam", 5, true),
            ("gemeente-rotterdam", "Rotterdam", 5, false),
        ];
        for (to, region, n, doubt) in doubts {
            s.doubts(h, to, region, n, doubt).await;
        }
        let closures = [
            ("gemeente-utrecht", "Utrecht", 5, "RETURN"),
            ("gemeente-utrecht", "Utrecht", 7, "LEGAL_STAY"),
            ("gemeente-utrecht", "Utrecht", 2, "UNKNOWN_DESTINATION"),
            ("gemeente-amsterdam", "Amsterdam", 6, "RETURN"),
            ("gemeente-amsterdam", "Amsterdam", 6, "LEGAL_STAY"),
        ];
        for (sender, region, n, outflow) in closures {
            s.closures(h, from_city(sender, region), n, outflow).await;
        }
        for (n, access) in [(6, "ARRANGED"), (5, "WAITING"), (3, "NOT_FOUND")] {
            s.care(h, "gemeente-eindhoven", "Eindhoven", n, access)
                .await;
        }

        // A resend with a known idempotency key, and a refused signal, count nothing.
        let mut resend = h.request("mon-1", "CASE_DIRECTION", &["dtv"], "QuarterlyReviewOutcome", r#"{"stuck": false, "progress": "REVIEW_PROGRESS_DELAYED", "stuckReason": "STUCK_REASON_MEDICAL", "stuckCause": "STUCK_CAUSE_UNSPECIFIED", "escalationLevel": "ESCALATION_LEVEL_LSO", "nextReviewDate": "2031-02-17", "reviewHeld": true}"#);
        resend.case_ref = s.secrets[0].clone();
        let mut rotterdam = h.client("gemeente-rotterdam").await;
        assert!(
            rotterdam
                .send(resend)
                .await
                .unwrap()
                .into_inner()
                .receipt
                .unwrap()
                .duplicate
        );
        let refused = h.request(
            "mon-refused",
            "RETURN",
            &["dtv"],
            "QuarterlyReviewOutcome",
            r#"{"stuck": true}"#,
        );
        assert_eq!(
            rotterdam.send(refused).await.unwrap_err().code(),
            Code::PermissionDenied
        );
    }

    /// The second quarter: Rotterdam again, 7 reviews, 4 stuck.
    pub async fn second_quarter(&mut self, h: &Harness) {
        let rotterdam = || from_city("gemeente-rotterdam", "Rotterdam");
        self.reviews(h, rotterdam(), 3, (true, false, "UNSPECIFIED", "LSO"))
            .await;
        self.reviews(
            h,
            rotterdam(),
            4,
            (true, true, "COUNTRY_REFUSES", "STEERING_GROUP"),
        )
        .await;
    }

    /// Sends `signal` `n` times along `route`, each as a case of its own, and tallies
    /// `fields` (every monitored field with the value sent) in the route's region.
    async fn send(
        &mut self,
        h: &Harness,
        route: &Route<'_>,
        n: usize,
        signal: &str,
        json: &str,
        fields: &[(&str, String)],
    ) {
        for _ in 0..n {
            self.sent += 1;
            let case_ref = format!("LVV-MON-{:04}-{}", self.sent, route.sender.len());
            let mut request = h.request(
                &format!("mon-{}", self.sent),
                route.purpose,
                &[route.to],
                signal,
                json,
            );
            request.case_ref = case_ref.clone();
            self.secrets.push(case_ref);
            h.client(route.sender).await.send(request).await.unwrap();
            let q = quarter_now(h).to_string();
            let cells = std::iter::once(("", String::new()))
                .chain(fields.iter().map(|(f, v)| (*f, v.clone())));
            for (field, value) in cells {
                let key = (
                    q.clone(),
                    route.region.to_string(),
                    signal.to_string(),
                    field.to_string(),
                    value,
                );
                *self.expected.entry(key).or_default() += 1;
            }
        }
    }

    /// `n` quarterly reviews: (review held, stuck, stuck cause, escalation level).
    async fn reviews(
        &mut self,
        h: &Harness,
        route: Route<'_>,
        n: usize,
        (held, stuck, cause, level): (bool, bool, &str, &str),
    ) {
        // The medical stuck reason and the review date travel to the partners, never to the
        // monitor's counters.
        let json = format!(
            r#"{{"progress": "REVIEW_PROGRESS_DELAYED", "stuck": {stuck}, "stuckReason": "STUCK_REASON_MEDICAL",
                "stuckCause": "STUCK_CAUSE_{cause}", "escalationLevel": "ESCALATION_LEVEL_{level}",
                "nextReviewDate": "2031-02-17", "reviewHeld": {held}}}"#
        );
        let fields = [
            ("review_held", held.to_string()),
            ("stuck", stuck.to_string()),
            ("stuck_cause", format!("STUCK_CAUSE_{cause}")),
            ("escalation_level", format!("ESCALATION_LEVEL_{level}")),
        ];
        self.send(h, &route, n, "QuarterlyReviewOutcome", &json, &fields)
            .await;
    }

    /// `n` identity doubts from DT&V to the municipality `to`, opened (`doubt`) or resolved.
    async fn doubts(&mut self, h: &Harness, to: &str, region: &str, n: usize, doubt: bool) {
        let json = format!(
            r#"{{"doubt": {doubt}, "requestedAction": "geboorteakte opvragen bij familie",
                "statedIdentity": {{"vNummer": "3141592653", "names": [{{"givenNames": "Zenobia", "surname": "Quaestor"}}]}}}}"#
        );
        let route = Route {
            sender: "dtv",
            purpose: "IDENTIFICATION",
            to,
            region,
        };
        self.send(
            h,
            &route,
            n,
            "IdentityDoubt",
            &json,
            &[("doubt", doubt.to_string())],
        )
        .await;
    }

    async fn closures(&mut self, h: &Harness, route: Route<'_>, n: usize, outflow: &str) {
        let json = format!(
            r#"{{"outflowCategory": "OUTFLOW_CATEGORY_{outflow}", "closureDate": "2031-03-09"}}"#
        );
        let fields = [("outflow_category", format!("OUTFLOW_CATEGORY_{outflow}"))];
        self.send(h, &route, n, "CaseClosure", &json, &fields).await;
    }

    async fn care(&mut self, h: &Harness, sender: &str, region: &str, n: usize, access: &str) {
        let json = format!(
            r#"{{"careCategory": "CARE_CATEGORY_MENTAL", "urgency": "CARE_URGENCY_ACUTE",
                "diagnosisDetails": "xenodiagnose-voorbeeld", "careAccess": "CARE_ACCESS_{access}"}}"#
        );
        let route = Route {
            sender,
            purpose: "CARE",
            to: "gemeente-utrecht-zorg",
            region,
        };
        let fields = [("care_access", format!("CARE_ACCESS_{access}"))];
        self.send(h, &route, n, "CareSignal", &json, &fields).await;
    }
}
