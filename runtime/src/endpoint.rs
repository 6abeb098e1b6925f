//! The tower service a generated router mounts for each method of an operation.
//!
//! A generated handler is a plain `async fn(Arc<S>, Request) -> Response`: it reads the request
//! itself, through [`crate::params`] and [`crate::body`], so it needs none of axum's extractor
//! machinery. [`Endpoint`] pairs it with the service implementation it calls. Compared with an
//! axum handler given state, it skips splitting and reassembling the request for the extractors
//! and boxing the handler's future a second time: the router boxes it once, as it boxes every
//! route.

use axum::extract::Request;
use axum::response::Response;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// `handler`, calling `service`: see the module documentation.
pub fn endpoint<S, H, F>(handler: H, service: &Arc<S>) -> Endpoint<S, H>
where
    H: Fn(Arc<S>, Request) -> F,
    F: Future<Output = Response>,
{
    Endpoint { handler, service: service.clone() }
}

/// An operation's handler and the service it calls; made by [`endpoint`].
pub struct Endpoint<S, H> {
    handler: H,
    service: Arc<S>,
}

impl<S, H: Clone> Clone for Endpoint<S, H> {
    fn clone(&self) -> Self {
        Endpoint { handler: self.handler.clone(), service: self.service.clone() }
    }
}

impl<S, H, F> tower::Service<Request> for Endpoint<S, H>
where
    H: Fn(Arc<S>, Request) -> F,
    F: Future<Output = Response>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EndpointFuture<F>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> EndpointFuture<F> {
        EndpointFuture { inner: (self.handler)(self.service.clone(), request) }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Endpoint`]: the handler's, which cannot fail.
    pub struct EndpointFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future<Output = Response>> Future for EndpointFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_handler_gets_the_service_and_the_request() {
        async fn handler(prefix: Arc<String>, request: Request) -> Response {
            Response::new(format!("{prefix}{}", request.uri().path()).into())
        }
        let service = endpoint(handler, &Arc::new("seen ".to_owned()));
        let response = service.clone().oneshot(Request::new(axum::body::Body::empty())).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 100).await.unwrap();
        assert_eq!(body, "seen /");
        // Mounted on a router, as generated code mounts it.
        let app = axum::Router::new().route("/x", axum::routing::get_service(service));
        let request = Request::get("/x").body(axum::body::Body::empty()).unwrap();
        let body = axum::body::to_bytes(app.oneshot(request).await.unwrap().into_body(), 100).await.unwrap();
        assert_eq!(body, "seen /x");
    }
}
