//! Running a reserved call: one-shot or streamed, under the call's deadline, with its hold
//! renewed while it runs, and (for streams) cancelled when the reader leaves or stops reading.

use std::{
    future::Future,
    pin::pin,
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::{Invocation, Invocations, StartedStream, StreamItem, admit::Reserved};
use crate::domain::{Error, ModelError, ModelEvent, StoreError};

/// Events a stream buffers between the model and its reader.
const STREAM_BUFFER: usize = 32;

/// Why a stream stopped before the model finished.
enum Stopped {
    /// The reader went away.
    Left,
    /// The reader stopped reading for longer than the stall timeout.
    Stalled,
}

impl Invocations {
    /// Runs a one-shot call to its end and settles or releases it.
    pub(super) async fn run_once(&self, reserved: Reserved) -> Result<Invocation, Error> {
        let provider = self.0.provider.clone();
        let request = reserved.request.clone();
        let model_started = Instant::now();
        let answer = self.guarded(&reserved, async move { provider.converse(&request).await }).await;
        let model_time = model_started.elapsed();
        self.0.core.metrics.model_latency(&reserved.request.model_id, model_time);
        match answer {
            Ok(reply) => self.settle(&reserved, reply.text, reply.usage, reply.stop_reason, None, model_time).await,
            Err(err) => Err(self.fail(&reserved, err).await),
        }
    }

    /// Runs `call` until it ends or the call's deadline passes, renewing the hold meanwhile.
    async fn guarded<T>(
        &self,
        reserved: &Reserved,
        call: impl Future<Output = Result<T, ModelError>>,
    ) -> Result<T, ModelError> {
        let timeout = self.0.settings.call_timeout;
        let mut call = pin!(call);
        let mut deadline = pin!(tokio::time::sleep(timeout));
        let mut renewal = self.renewal();
        loop {
            tokio::select! {
                out = &mut call => return out,
                () = &mut deadline => return Err(ModelError::Timeout(format!("the call took longer than {timeout:?}"))),
                _ = renewal.tick() => self.renew(reserved).await,
            }
        }
    }

    /// Ticks every third of the hold's life, first one third from now.
    pub(super) fn renewal(&self) -> tokio::time::Interval {
        let every = (self.0.settings.hold_ttl / 3).max(Duration::from_millis(10));
        let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renewal
    }

    /// Moves the hold's expiry a whole life ahead.
    async fn renew(&self, reserved: &Reserved) {
        if reserved.in_outage || reserved.lease.is_some() {
            return; // no hold in the store, or a lease's, which its own task renews
        }
        match self.0.core.accounts.renew(&reserved.user, &reserved.hold.id, self.expiry()).await {
            Ok(()) => {}
            Err(StoreError::HoldGone) => tracing::error!(
                user = %reserved.user, hold = %reserved.hold.id,
                "a call's hold was released while it ran; it will be charged at most what is free"
            ),
            Err(err) => tracing::warn!(user = %reserved.user, error = %err, "could not renew a hold; will try again"),
        }
    }

    /// Starts a streaming call in its own task and answers once its first event is known (so a
    /// call the model refuses at once fails before any stream exists).
    pub(super) async fn run_stream(
        &self,
        reserved: Reserved,
    ) -> Result<StartedStream<impl Stream<Item = StreamItem> + Send + 'static>, Error> {
        let (remaining, limits) = (reserved.remaining, reserved.limits.clone());
        let (tx, mut rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(self.clone().pump(reserved, tx));
        let first = match rx.recv().await {
            Some(StreamItem::Failed(err)) => return Err(err),
            Some(item) => item,
            None => return Err(Error::Internal("the call ended without an answer".into())),
        };
        let rest = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        Ok(StartedStream { remaining, limits, items: futures::stream::once(async { first }).chain(rest) })
    }

    /// Forwards what the model says to the reader, then settles or releases.
    async fn pump(self, reserved: Reserved, tx: mpsc::Sender<StreamItem>) {
        let timeout = self.0.settings.call_timeout;
        let model_started = Instant::now();
        let mut deadline = pin!(tokio::time::sleep(timeout));
        let mut renewal = self.renewal();
        let timed_out = || ModelError::Timeout(format!("the call took longer than {timeout:?}"));
        let mut opening = pin!(self.0.provider.converse_stream(&reserved.request));
        let opened = loop {
            tokio::select! {
                opened = &mut opening => break opened,
                () = tx.closed() => return self.cancel(&reserved, Stopped::Left).await,
                () = &mut deadline => break Err(timed_out()),
                _ = renewal.tick() => self.renew(&reserved).await,
            }
        };
        let mut model = match opened {
            Ok(model) => model,
            Err(err) => {
                let _ = tx.send(StreamItem::Failed(self.fail(&reserved, err).await)).await;
                return;
            }
        };
        let mut text = String::new();
        let mut first_text = None;
        let outcome = loop {
            let next = tokio::select! {
                next = model.next() => next,
                () = tx.closed() => return self.cancel(&reserved, Stopped::Left).await,
                () = &mut deadline => Some(Err(timed_out())),
                _ = renewal.tick() => {
                    self.renew(&reserved).await;
                    continue;
                }
            };
            match next {
                Some(Ok(ModelEvent::Text(delta))) => {
                    first_text.get_or_insert_with(|| reserved.started.elapsed());
                    text.push_str(&delta);
                    if let Err(stopped) = self.deliver(&tx, StreamItem::Text(delta)).await {
                        return self.cancel(&reserved, stopped).await;
                    }
                }
                Some(Ok(ModelEvent::Finished { usage, stop_reason })) => {
                    let model_time = model_started.elapsed();
                    self.0.core.metrics.model_latency(&reserved.request.model_id, model_time);
                    let text = std::mem::take(&mut text);
                    break match self.settle(&reserved, text, usage, stop_reason, first_text, model_time).await {
                        Ok(done) => StreamItem::Done(Box::new(done)),
                        Err(err) => StreamItem::Failed(err),
                    };
                }
                Some(Err(err)) => break StreamItem::Failed(self.fail(&reserved, err).await),
                None => {
                    let err = ModelError::Failed("the model stream ended without reporting usage".into());
                    break StreamItem::Failed(self.fail(&reserved, err).await);
                }
            }
        };
        // Settled or released already: a reader that never takes the last event changes nothing.
        let _ = self.deliver(&tx, outcome).await;
    }

    /// Hands an event to the reader, waiting at most the stall timeout for room.
    async fn deliver(&self, tx: &mpsc::Sender<StreamItem>, item: StreamItem) -> Result<(), Stopped> {
        match tokio::time::timeout(self.0.settings.stream_stall_timeout, tx.send(item)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stopped::Left),
            Err(_) => Err(Stopped::Stalled),
        }
    }

    async fn cancel(&self, reserved: &Reserved, why: Stopped) {
        match why {
            Stopped::Left => tracing::info!(
                user = %reserved.user, hold = %reserved.hold.id, "the caller left; call cancelled, nothing charged"
            ),
            Stopped::Stalled => tracing::warn!(
                user = %reserved.user, hold = %reserved.hold.id,
                stall = ?self.0.settings.stream_stall_timeout,
                "the caller stopped reading the stream; call cancelled, nothing charged"
            ),
        }
        self.release(reserved, Some(crate::domain::ErrorCode::Cancelled)).await;
    }
}
