//! Stopping the test app and starting it again on the same address and store, as a restart
//! of the service does (the browser tests watch a page live through one).

use std::{net::SocketAddr, time::Duration};

use tokenmeter_api::http;

use super::TestApp;

/// Serves `app` on `addr` until told to stop; stopping closes every open connection at once
/// (event streams included), as a process that exits does.
pub(super) async fn serve(
    addr: SocketAddr,
    app: impl poem::Endpoint + 'static,
) -> (SocketAddr, tokio::task::JoinHandle<()>, tokio::sync::oneshot::Sender<()>) {
    let (acceptor, addr) = http::bind(addr).await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, async move { drop(stopped.await) }, Some(Duration::ZERO))
            .await
            .expect("server");
    });
    (addr, server, stop)
}

impl TestApp {
    /// Stops the service as a crash or a deploy does: no new connections, and every open one
    /// (an event stream, a call in flight) is closed. The store stays.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.server).await.expect("the server stopped cleanly");
    }

    /// Starts the service again on the same address and the same store, as a new process
    /// would: no state but the store's (live views and caches start empty).
    pub(crate) async fn start_again(&mut self) {
        let mut builder = Self::builder().on(self.stores.clone(), self.data.clone()).web(&self.web_dir);
        builder.settings = self.settings.clone();
        builder.clock = self.clock.clone();
        builder.addr = self.addr;
        let mut started = builder.spawn().await;
        assert_eq!(started.addr, self.addr, "started again on the same address");
        // The stopped instance goes; its server task has already ended.
        std::mem::swap(self, &mut started);
    }
}
