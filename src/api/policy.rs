//! `PolicyService`: a partner asks what it may send and what it receives, for its own
//! certificate, under the policy in force. Proto ⇄ domain only: who is eligible is decided by
//! [`crate::policy::Rule::receiving_purposes_of`], as in authorization.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    credentials,
    proto::{
        EligibleRecipient, ReceivePermission, SendPermission, WhatMayIRequest, WhatMayIResponse,
        policy_service_server::PolicyService,
    },
};
use crate::exchange::Exchange;

/// The `PolicyService` implementation.
#[derive(Clone)]
pub struct PolicyApi {
    exchange: Arc<Exchange>,
}

impl PolicyApi {
    /// The service over the gateway's use cases.
    pub fn new(exchange: Arc<Exchange>) -> Self {
        Self { exchange }
    }
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn what_may_i(
        &self,
        request: Request<WhatMayIRequest>,
    ) -> Result<Response<WhatMayIResponse>, Status> {
        let partner = self.exchange.caller(credentials(&request).peer)?;
        let policy = self.exchange.policy();
        let registry = self.exchange.registry();
        let may_send = policy
            .rules()
            .iter()
            .filter(|rule| rule.sender_role == partner.role)
            .map(|rule| SendPermission {
                signal_type: rule.signal.clone(),
                purpose: rule.purpose.clone(),
                legal_instrument: rule.legal_instrument.clone(),
                rule: rule.name.clone(),
                receiving_purposes: rule.receive.keys().cloned().collect(),
                eligible_recipients: registry
                    .partners()
                    .iter()
                    .filter(|p| p.is_active() && p.oin != partner.oin)
                    .filter_map(|p| {
                        let purposes = rule.receiving_purposes_of(p);
                        (!purposes.is_empty()).then(|| EligibleRecipient {
                            oin: p.oin.to_string(),
                            name: p.name.clone(),
                            purposes,
                        })
                    })
                    .collect(),
            })
            .collect();
        let receives = policy
            .rules()
            .iter()
            .filter_map(|rule| {
                let purposes = rule.receiving_purposes_of(&partner);
                (!purposes.is_empty()).then(|| ReceivePermission {
                    signal_type: rule.signal.clone(),
                    sender_role: rule.sender_role.to_string(),
                    sending_purpose: rule.purpose.clone(),
                    rule: rule.name.clone(),
                    fields: policy.received_fields(self.exchange.catalogue(), rule, &purposes),
                    purposes,
                })
            })
            .collect();
        Ok(Response::new(WhatMayIResponse {
            oin: partner.oin.to_string(),
            role: partner.role.to_string(),
            receiving_purposes: partner.purposes.clone(),
            policy_version: policy.version().to_string(),
            may_send,
            receives,
        }))
    }
}
