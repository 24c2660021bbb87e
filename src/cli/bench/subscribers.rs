//! The receiving partners: per receiver one mutual-TLS connection holding a `Subscribe`
//! stream. Each copy that arrives is matched ([`Deliveries::arrived`]) and acknowledged by a
//! task beside the stream, which puts whatever ids are waiting (up to [`ACK_BATCH`]) into one
//! `Ack`, as a partner system that keeps up would.

use std::{path::Path, sync::Arc};

use anyhow::Context as _;
use ketenpoort::api::{
    client::ClientTls,
    proto::{AckRequest, SubscribeRequest, signal_service_client::SignalServiceClient},
};
use tokio::{sync::mpsc, task::JoinSet};
use tonic::{Streaming, transport::Channel};

use super::{deliveries::Deliveries, figures::Figures};

/// The most delivery ids in one `Ack`.
const ACK_BATCH: usize = 64;

/// Opens one subscription per receiver `ids` and starts reading and acknowledging; returns
/// once every stream is open. Dropping (or aborting) the tasks closes the streams.
pub async fn start(
    gateway: &str,
    pki: &Path,
    ids: &[String],
    deliveries: &Arc<Deliveries>,
    figures: &Arc<Figures>,
) -> anyhow::Result<JoinSet<()>> {
    let mut tasks = JoinSet::new();
    for id in ids {
        let mut client = ClientTls::dev(pki, id)
            .connect(gateway)
            .await
            .with_context(|| format!("receiver {id}"))?;
        let stream = client
            .subscribe(SubscribeRequest {})
            .await
            .map_err(|s| anyhow::anyhow!("{:?}: {}", s.code(), s.message()))
            .with_context(|| format!("Subscribe as {id}"))?
            .into_inner();
        let (ids_to_ack, waiting) = mpsc::unbounded_channel();
        tasks.spawn(read(id.clone(), stream, ids_to_ack, Arc::clone(deliveries)));
        tasks.spawn(acknowledge(
            client,
            waiting,
            Arc::clone(deliveries),
            Arc::clone(figures),
        ));
    }
    Ok(tasks)
}

/// Matches every copy that arrives and passes its id on to be acknowledged.
async fn read(
    receiver: String,
    mut stream: Streaming<ketenpoort::api::proto::SubscribeResponse>,
    ids_to_ack: mpsc::UnboundedSender<String>,
    deliveries: Arc<Deliveries>,
) {
    loop {
        match stream.message().await {
            Ok(Some(message)) => {
                if let Some(delivery) = message.delivery {
                    deliveries.arrived(&delivery.delivery_id);
                    if ids_to_ack.send(delivery.delivery_id).is_err() {
                        return;
                    }
                }
            }
            Ok(None) => return,
            Err(status) => {
                eprintln!(
                    "bench: the subscription of {receiver} ended: {:?}: {}",
                    status.code(),
                    status.message()
                );
                return;
            }
        }
    }
}

/// Acknowledges the ids as they come, in batches of what is waiting.
async fn acknowledge(
    mut client: SignalServiceClient<Channel>,
    mut waiting: mpsc::UnboundedReceiver<String>,
    deliveries: Arc<Deliveries>,
    figures: Arc<Figures>,
) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < ACK_BATCH {
            match waiting.try_recv() {
                Ok(id) => batch.push(id),
                Err(_) => break,
            }
        }
        let ids = batch.len() as u64;
        let acknowledged = match client
            .ack(AckRequest {
                delivery_ids: batch,
            })
            .await
        {
            Ok(response) => u64::from(response.into_inner().acknowledged),
            Err(status) => {
                figures.ack_refused(status.code());
                0
            }
        };
        deliveries.acked(ids, acknowledged);
    }
}
