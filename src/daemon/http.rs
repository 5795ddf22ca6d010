//! The sidecar's HTTP endpoints: `/healthz`, `/readyz` and `/metrics`
//! (Prometheus text). Read-only: no endpoint changes anything.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::apply::shutdown::Shutdown;
use crate::daemon::status::Status;

pub(crate) fn router(status: Arc<Status>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(status)
}

async fn healthz(State(status): State<Arc<Status>>) -> impl IntoResponse {
    if status.healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no pass completed within three intervals\n",
        )
    }
}

async fn readyz(State(status): State<Arc<Status>>) -> impl IntoResponse {
    if status.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no pass completed yet, or shutting down\n",
        )
    }
}

async fn metrics(State(status): State<Arc<Status>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        status.prometheus(),
    )
}

/// Serves on `listener` until `stop` completes.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    status: Arc<Status>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(status))
        .with_graceful_shutdown(stop)
        .await
}

/// Completes when `shutdown` is requested.
pub(crate) async fn on_shutdown(shutdown: Shutdown) {
    shutdown.requested().await;
}
