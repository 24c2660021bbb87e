//! `SignalService`: partners send signals, stream their deliveries and acknowledge them.
//! Proto ⇄ domain only; the use cases are in [`crate::exchange`].

use std::{pin::Pin, sync::Arc};

use prost::Message as _;
use prost_types::Any;
use tokio_stream::{Stream, StreamExt as _, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use super::{
    credentials, credentials_of,
    proto::{
        self, AckRequest, AckResponse, Delivery, GetReceiptRequest, GetReceiptResponse,
        RecipientReceipt, SendReceipt, SendRequest, SendResponse, SubscribeRequest,
        SubscribeResponse, signal_service_server::SignalService,
    },
    span::Outcome,
    timestamp,
};
use crate::{
    catalogue::{TYPE_URL_PREFIX, type_url},
    exchange::{
        Exchange,
        envelope::{Envelope, Payload},
        stream::Streamed,
    },
    store::{DeliveryState, PendingDelivery, Receipt},
};

impl From<DeliveryState> for proto::DeliveryState {
    fn from(state: DeliveryState) -> Self {
        match state {
            DeliveryState::Pending => proto::DeliveryState::Pending,
            DeliveryState::Streamed => proto::DeliveryState::Streamed,
            DeliveryState::Acknowledged => proto::DeliveryState::Acknowledged,
            DeliveryState::Expired => proto::DeliveryState::Expired,
        }
    }
}

/// The `SignalService` implementation.
#[derive(Clone)]
pub struct SignalApi {
    exchange: Arc<Exchange>,
}

// === impl SignalApi ===

impl SignalApi {
    /// The service over the gateway's use cases.
    pub fn new(exchange: Arc<Exchange>) -> Self {
        Self { exchange }
    }

    fn to_delivery(&self, d: PendingDelivery) -> Delivery {
        let type_url = self
            .exchange
            .catalogue()
            .signal(&d.signal_type)
            .map(type_url)
            .unwrap_or_else(|| format!("{TYPE_URL_PREFIX}ketenpoort.v1.{}", d.signal_type));
        Delivery {
            delivery_id: d.id,
            signal_id: d.signal_id,
            sender: d.sender,
            purpose: d.purpose,
            case_ref: d.case_ref,
            sent_at: Some(timestamp(d.accepted_at)),
            receiving_purposes: d.purposes,
            payload: Some(Any {
                type_url,
                value: d.payload,
            }),
            previous_attempts: u32::try_from(d.attempts).unwrap_or(u32::MAX),
        }
    }
}

#[tonic::async_trait]
impl SignalService for SignalApi {
    async fn send(&self, request: Request<SendRequest>) -> Result<Response<SendResponse>, Status> {
        let (metadata, extensions, body) = request.into_parts();
        let credentials = credentials_of(&metadata, &extensions);
        let sender = self.exchange.caller(credentials.peer)?;
        let envelope = to_envelope(body);
        let receipt = self.exchange.send(&sender, &credentials, envelope).await?;
        let outcome = Outcome(if receipt.duplicate {
            "duplicate"
        } else {
            "accepted"
        });
        let mut response = Response::new(SendResponse {
            receipt: Some(to_receipt(receipt)),
        });
        response.extensions_mut().insert(outcome);
        Ok(response)
    }

    type SubscribeStream =
        Pin<Box<dyn Stream<Item = Result<SubscribeResponse, Status>> + Send + 'static>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let credentials = credentials(&request);
        let partner = self.exchange.caller(credentials.peer)?;
        let actor = self.exchange.actor(&partner, &credentials, false)?;
        let streamed = self.exchange.subscribe(&partner, &actor)?;
        let api = self.clone();
        let stream = ReceiverStream::new(streamed).map(move |item| match item {
            Ok(Streamed::Delivery(delivery)) => Ok(SubscribeResponse {
                delivery: Some(api.to_delivery(*delivery)),
                caught_up: false,
            }),
            Ok(Streamed::CaughtUp) => Ok(SubscribeResponse {
                delivery: None,
                caught_up: true,
            }),
            Err(e) => Err(e.into()),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn ack(&self, request: Request<AckRequest>) -> Result<Response<AckResponse>, Status> {
        let credentials = credentials(&request);
        let partner = self.exchange.caller(credentials.peer)?;
        let actor = self.exchange.actor(&partner, &credentials, false)?;
        let ids = request.into_inner().delivery_ids;
        let acknowledged = self.exchange.ack(&actor, ids).await?;
        Ok(Response::new(AckResponse { acknowledged }))
    }

    async fn get_receipt(
        &self,
        request: Request<GetReceiptRequest>,
    ) -> Result<Response<GetReceiptResponse>, Status> {
        let credentials = credentials(&request);
        let partner = self.exchange.caller(credentials.peer)?;
        let actor = self.exchange.actor(&partner, &credentials, false)?;
        let receipt = self
            .exchange
            .receipt(&actor, &request.get_ref().signal_id)
            .await?;
        Ok(Response::new(GetReceiptResponse {
            receipt: Some(to_receipt(receipt)),
        }))
    }
}

fn to_envelope(request: SendRequest) -> Envelope {
    Envelope {
        encoded_len: request.encoded_len(),
        idempotency_key: request.idempotency_key,
        case_ref: request.case_ref,
        purpose: request.purpose,
        recipients: request.recipients,
        payload: request.payload.map(|any| Payload {
            type_url: any.type_url,
            value: any.value,
        }),
    }
}

fn to_receipt(r: Receipt) -> SendReceipt {
    SendReceipt {
        signal_id: r.signal_id,
        recipients: r
            .recipients
            .into_iter()
            .map(|x| RecipientReceipt {
                recipient: x.recipient,
                delivery_id: x.delivery_id,
                purposes: x.purposes,
                withheld_fields: x.withheld,
                state: proto::DeliveryState::from(x.status.state).into(),
                attempts: u32::try_from(x.status.attempts).unwrap_or(u32::MAX),
                acknowledged_at: x.status.acked_at.map(timestamp),
                expired_at: x.status.expired_at.map(timestamp),
            })
            .collect(),
        accepted_at: Some(timestamp(r.accepted_at)),
        duplicate: r.duplicate,
        content_sha256: r.content_sha256,
        audit_sequence: u64::try_from(r.audit_seq).unwrap_or_default(),
        signature: r.signature,
        signing_key_id: r.key_id,
    }
}
