//! Starting a stopped test app again on the same address and the same store, as a restart of
//! the service does (the browser tests watch a page stay on screen through one).

use std::{path::Path, sync::Arc};

use tokenmeter_api::{
    domain::{Clock, Parts, Services, StartupAdminKey, SystemClock},
    http,
    model::{EchoProvider, default_prices},
};

use super::{ADMIN_KEY, TestApp};

impl TestApp {
    /// After [`TestApp::stop`]: the service again, on the same address and stores, as a new
    /// process would start (no state but the stores'), serving the web app from `web_dir`.
    pub(crate) async fn start_again(&mut self, web_dir: &Path) {
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(clock) => Arc::new(clock.clone()),
            None => Arc::new(SystemClock),
        };
        let services = Services::new(Parts {
            stores: self.stores.clone(),
            provider: Arc::new(EchoProvider),
            prices: default_prices(),
            clock,
            startup_admin: Some(StartupAdminKey::new(ADMIN_KEY).expect("admin key")),
            settings: self.settings.clone(),
            alert_targets: self.alert_targets.clone(),
        });
        let app = http::endpoint(services.clone(), &[], http::WebApp::new(web_dir));
        let server = http::HttpServer::bind(self.addr, http::ServerLimits::default()).await.expect("the same address");
        let stopping = services.core.stopping().clone();
        self.server = Some(tokio::spawn(async move {
            server.serve(app, stopping).await.expect("server");
        }));
        self.services = services;
    }
}
