//! `PolicyService`: a partner asks what it may send and what it receives, for its own
//! certificate, under the policy in force.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    Context,
    proto::{
        EligibleRecipient, ReceivePermission, SendPermission, WhatMayIRequest, WhatMayIResponse,
        policy_service_server::PolicyService,
    },
};

/// The `PolicyService` implementation.
#[derive(Clone)]
pub struct PolicyApi {
    cx: Arc<Context>,
}

impl PolicyApi {
    /// A service over the gateway's context.
    pub fn new(cx: Arc<Context>) -> Self {
        Self { cx }
    }
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn what_may_i(
        &self,
        request: Request<WhatMayIRequest>,
    ) -> Result<Response<WhatMayIResponse>, Status> {
        let partner = self.cx.caller(&request)?;
        let policy = self.cx.policy.load();
        let registry = self.cx.registry.load();
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
                        let purposes: Vec<String> = p
                            .purposes
                            .iter()
                            .filter(|code| rule.receive.contains_key(*code))
                            .cloned()
                            .collect();
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
                let purposes: Vec<String> = rule
                    .receive
                    .keys()
                    .filter(|code| partner.purposes.contains(code))
                    .cloned()
                    .collect();
                (!purposes.is_empty()).then(|| ReceivePermission {
                    signal_type: rule.signal.clone(),
                    sender_role: rule.sender_role.to_string(),
                    sending_purpose: rule.purpose.clone(),
                    rule: rule.name.clone(),
                    fields: policy.received_fields(&self.cx.catalogue, rule, &purposes),
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
