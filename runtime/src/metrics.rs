//! Metrics for Prometheus: one [`Metrics`] registry per server, in which the runtime counts HTTP
//! requests and any other part of the server (the UWS engine, a service) registers its own, served
//! as the Prometheus text format at `/metrics` when the operator asks (`--metrics-addr`,
//! `--metrics`; see [`crate::serve::Config`]).
//!
//! The registry is [`crate::serve::Config::metrics`], so whatever is given the configuration can
//! register: register once, when the server starts, keep the handle, and update it as things
//! happen. Handles are cheap to clone and to update (atomic operations, no lock):
//!
//! ```
//! use ivoagen_runtime::metrics::{Metrics, LATENCY_BUCKETS};
//! use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
//!
//! let metrics = Metrics::new();
//! // A counter: exported as `uws_jobs_created_total`.
//! let created = metrics.counter("uws_jobs_created", "UWS jobs created.");
//! created.inc();
//! // Gauges by label: look a labelled child up once where you can, and keep it.
//! let jobs = metrics.gauge_family("uws_jobs", "UWS jobs by phase.", &["phase"]);
//! jobs.with(&["QUEUED"]).inc();
//! // A histogram of durations, in seconds.
//! let store = metrics.histogram("uws_store_seconds", "Time of a job-store call.", LATENCY_BUCKETS);
//! store.observe_duration(std::time::Duration::from_millis(3));
//! // A gauge read when /metrics is scraped.
//! let busy = Arc::new(AtomicUsize::new(0));
//! let seen = busy.clone();
//! metrics.gauge_fn("uws_workers_busy", "Workers running a job.", move || seen.load(Ordering::Relaxed) as i64);
//!
//! let text = metrics.encode();
//! assert!(text.contains("uws_jobs_created_total 1\n"));
//! assert!(text.contains("uws_jobs{phase=\"QUEUED\"} 1\n"));
//! assert!(text.contains("uws_store_seconds_count 1\n"));
//! ```
//!
//! Names follow Prometheus' rules (`[a-zA-Z_:][a-zA-Z0-9_:]*`; a counter's name without the
//! `_total` its samples get; a unit in the name: `_seconds`, `_bytes`). Label values must come
//! from a small, fixed set (phases, not owners or job ids): each one is a series kept for the
//! server's life. Registering a name again gives the metric registered first, if it is of the same
//! kind and labels (so mounting twice with one configuration is harmless); a name already taken by
//! another kind, or an invalid name, is a programming error and panics.
//!
//! The runtime's own: `http_requests_total{method,route,status}`,
//! `http_request_duration_seconds{method,route}` (until the response's head is ready),
//! `http_requests_in_flight`, `process_start_time_seconds` and `server_info{program,version}`.
//! `route` is the matched route's template (`/soda/async/{id}`), never the path a client sent,
//! and `unmatched` where no route matched; `method` is one of the standard methods or `other`; a
//! client that goes away before its answer counts as status 499.

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The `Content-Type` of `/metrics`: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Histogram buckets for durations in seconds, from 250 µs (a small request's answer) to a
/// minute (a UWS `WAIT` lasts up to one): the upper bounds of [`Metrics::histogram`]'s buckets,
/// above which `+Inf` counts the rest.
pub const LATENCY_BUCKETS: &[f64] = &[0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A server's metrics registry: a handle, cheap to clone (clones share the registry); see the
/// [module](self). Two handles are equal when they are the same registry.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    http: OnceLock<HttpMetrics>,
}

#[derive(Default)]
struct State {
    registry: Registry,
    /// Each registered name, and what was registered.
    names: HashMap<String, Registered>,
}

/// A registered metric: its kind, label names, and a handle to give back on a second
/// registration.
struct Registered {
    kind: &'static str,
    labels: &'static [&'static str],
    handle: Box<dyn Any + Send + Sync>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.inner.state.lock().map(|s| s.names.len()).unwrap_or_default();
        f.debug_struct("Metrics").field("registered", &names).finish()
    }
}

impl PartialEq for Metrics {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Metrics {}

/// Whether `name` is a valid Prometheus metric name.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':')) && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `name` is a valid label name (no `__` prefix, which Prometheus reserves).
fn valid_label(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_')) && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.starts_with("__")
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Registers `metric` under `name`, or gives back what was registered there first.
    fn register<H, M>(&self, name: &str, help: &str, kind: &'static str, labels: &'static [&'static str], make: impl FnOnce() -> (H, M)) -> H
    where
        H: Clone + Send + Sync + 'static,
        M: prometheus_client::registry::Metric,
    {
        assert!(valid_name(name), "`{name}` is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
        assert!(!(kind == "counter" && name.ends_with("_total")), "counter `{name}`: leave `_total` out, its samples get it");
        for label in labels {
            assert!(valid_label(label), "metric `{name}`: `{label}` is not a label name");
        }
        let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(was) = state.names.get(name) {
            assert!(was.kind == kind && was.labels == labels, "metric `{name}` is already registered as a {} with labels {:?}", was.kind, was.labels);
            return was.handle.downcast_ref::<H>().expect("one kind, one handle type").clone();
        }
        let (handle, metric) = make();
        // The text format ends the help with a full stop of its own.
        state.registry.register(name, help.trim_end().trim_end_matches('.'), metric);
        state.names.insert(name.to_owned(), Registered { kind, labels, handle: Box::new(handle.clone()) });
        handle
    }

    /// A counter: a count that only goes up (jobs created, bytes sent). Exported as `NAME_total`.
    ///
    /// # Panics
    /// If `name` is not a metric name, ends with `_total`, or is registered as something else.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        self.register(name, help, "counter", &[], || {
            let counter = Counter::default();
            (counter.clone(), counter)
        })
    }

    /// A gauge: a value that goes up and down (jobs queued, workers in use).
    ///
    /// # Panics
    /// If `name` is not a metric name or is registered as something else.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.register(name, help, "gauge", &[], || {
            let gauge = Gauge::default();
            (gauge.clone(), gauge)
        })
    }

    /// A gauge whose value `read` gives when `/metrics` is scraped, for a value the server already
    /// keeps (a semaphore's free permits, a queue's length). A second registration of `name` keeps
    /// the first function.
    ///
    /// # Panics
    /// If `name` is not a metric name or is registered as something else.
    pub fn gauge_fn(&self, name: &str, help: &str, read: impl Fn() -> i64 + Send + Sync + 'static) {
        let read: Arc<dyn Fn() -> i64 + Send + Sync> = Arc::new(read);
        self.register(name, help, "gauge_fn", &[], || ((), GaugeFn(read)));
    }

    /// A histogram: how many observations fell at or below each of `buckets` (upper bounds,
    /// finite and increasing; `+Inf` is added), their sum and count. For durations in seconds,
    /// [`LATENCY_BUCKETS`].
    ///
    /// # Panics
    /// If `name` is not a metric name or is registered as something else, or if `buckets` are
    /// not finite and increasing.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.register(name, help, "histogram", &[], || {
            let histogram = Histogram::new(buckets);
            (histogram.clone(), histogram)
        })
    }

    /// Counters by the values of the labels `labels` (`&["phase"]`): see [`Family::with`].
    ///
    /// # Panics
    /// As [`Metrics::counter`], and if a label is not a label name.
    pub fn counter_family(&self, name: &str, help: &str, labels: &'static [&'static str]) -> Family<Counter> {
        self.register(name, help, "counter", labels, || Family::new(labels, Arc::new(Counter::default)).pair())
    }

    /// Gauges by the values of the labels `labels`: see [`Family::with`].
    ///
    /// # Panics
    /// As [`Metrics::gauge`], and if a label is not a label name.
    pub fn gauge_family(&self, name: &str, help: &str, labels: &'static [&'static str]) -> Family<Gauge> {
        self.register(name, help, "gauge", labels, || Family::new(labels, Arc::new(Gauge::default)).pair())
    }

    /// Histograms (each with `buckets`) by the values of the labels `labels`: see
    /// [`Family::with`].
    ///
    /// # Panics
    /// As [`Metrics::histogram`], and if a label is not a label name.
    pub fn histogram_family(&self, name: &str, help: &str, labels: &'static [&'static str], buckets: &[f64]) -> Family<Histogram> {
        let prototype = Histogram::new(buckets);
        self.register(name, help, "histogram", labels, || Family::new(labels, Arc::new(move || prototype.empty_like())).pair())
    }

    /// Every metric, in the Prometheus text format (version 0.0.4, [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &state.registry);
        text
    }

    /// The runtime's HTTP metrics, registered the first time they are asked for.
    pub(crate) fn http(&self) -> &HttpMetrics {
        self.inner.http.get_or_init(|| {
            let requests = self.register("http_requests", "HTTP requests answered, by method, route template and status.", "runtime counter", &["method", "route", "status"], || {
                let family = prometheus_client::metrics::family::Family::<RequestLabels, Counter>::default();
                (family.clone(), family)
            });
            let duration = self.register(
                "http_request_duration_seconds",
                "Time from a request's arrival to its response's head, by method and route template.",
                "runtime histogram",
                &["method", "route"],
                || {
                    let family = prometheus_client::metrics::family::Family::<RouteLabels, Histogram, HistogramMaker>::new_with_constructor(HistogramMaker(Histogram::new(LATENCY_BUCKETS)));
                    (family.clone(), family)
                },
            );
            let in_flight = self.gauge("http_requests_in_flight", "HTTP requests being answered.");
            HttpMetrics { requests, duration, in_flight }
        })
    }
}

/// A count that only goes up: a handle (clones count together).
#[derive(Clone, Debug, Default)]
pub struct Counter(prometheus_client::metrics::counter::Counter);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.inc_by(n);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

impl TypedMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Counter {
    fn encode(&self, encoder: MetricEncoder) -> fmt::Result {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

/// A value that goes up and down: a handle (clones share the value).
#[derive(Clone, Debug, Default)]
pub struct Gauge(prometheus_client::metrics::gauge::Gauge);

impl Gauge {
    /// Adds one.
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Takes one away.
    pub fn dec(&self) {
        self.0.dec();
    }

    /// Adds `n` (negative to take away).
    pub fn add(&self, n: i64) {
        self.0.inc_by(n);
    }

    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.0.set(value);
    }

    /// The value.
    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

impl TypedMetric for Gauge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for Gauge {
    fn encode(&self, encoder: MetricEncoder) -> fmt::Result {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// [`Metrics::gauge_fn`]'s metric: a function called at each scrape.
struct GaugeFn(Arc<dyn Fn() -> i64 + Send + Sync>);

impl fmt::Debug for GaugeFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GaugeFn")
    }
}

impl EncodeMetric for GaugeFn {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        encoder.encode_gauge(&(self.0)())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Gauge
    }
}

/// Counts of observations by bucket, their sum and count: a handle (clones observe together).
///
/// Lock-free: an observation is a binary search of the bounds and two atomic additions (the
/// sum's a compare-and-swap loop), so requests finishing at once never wait for one another (the
/// `prometheus-client` histogram takes a mutex). A scrape reads the buckets one by one: it may
/// miss an observation made meanwhile, but its count is always the sum of its buckets.
#[derive(Clone)]
pub struct Histogram(Arc<HistogramInner>);

struct HistogramInner {
    /// Upper bounds, finite and increasing.
    bounds: Box<[f64]>,
    /// One count per bound, and one for above the last (`+Inf`); not cumulative.
    counts: Box<[AtomicU64]>,
    /// The sum of the observations, as `f64` bits.
    sum: AtomicU64,
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram").field("bounds", &self.0.bounds).field("count", &self.count()).finish()
    }
}

impl Histogram {
    /// An empty histogram with these bucket bounds.
    ///
    /// # Panics
    /// If a bound is not finite, or they do not increase.
    fn new(bounds: &[f64]) -> Histogram {
        assert!(bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]), "histogram buckets must be finite and increasing: {bounds:?}");
        Histogram(Arc::new(HistogramInner { bounds: bounds.into(), counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum: AtomicU64::new(0f64.to_bits()) }))
    }

    /// A new, empty histogram with this one's bounds.
    fn empty_like(&self) -> Histogram {
        Histogram::new(&self.0.bounds)
    }

    /// Records `value`. A NaN counts in `+Inf`, and makes the sum NaN.
    pub fn observe(&self, value: f64) {
        let inner = &*self.0;
        let bucket = inner.bounds.partition_point(|&bound| bound < value);
        inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let mut sum = inner.sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(sum) + value).to_bits();
            match inner.sum.compare_exchange_weak(sum, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => sum = now,
            }
        }
    }

    /// Records `duration` in seconds.
    pub fn observe_duration(&self, duration: Duration) {
        self.observe(duration.as_secs_f64());
    }

    /// How many observations were recorded.
    pub fn count(&self) -> u64 {
        self.0.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.0.sum.load(Ordering::Relaxed))
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        let inner = &*self.0;
        let buckets: Vec<(f64, u64)> = inner.bounds.iter().copied().chain([f64::INFINITY]).zip(inner.counts.iter().map(|c| c.load(Ordering::Relaxed))).collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<NoLabelSet>(self.sum(), count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// What makes the histograms of a family: empty ones with the family's bounds.
#[derive(Clone)]
struct HistogramMaker(Histogram);

impl prometheus_client::metrics::family::MetricConstructor<Histogram> for HistogramMaker {
    fn new_metric(&self) -> Histogram {
        self.0.empty_like()
    }
}

/// Metrics of one kind by the values of their labels: a handle (clones share the family).
pub struct Family<M> {
    labels: &'static [&'static str],
    inner: prometheus_client::metrics::family::Family<Labels, M, Maker<M>>,
}

impl<M> Clone for Family<M> {
    fn clone(&self) -> Self {
        Family { labels: self.labels, inner: self.inner.clone() }
    }
}

impl<M: fmt::Debug> fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family").field("labels", &self.labels).field("inner", &self.inner).finish()
    }
}

/// What makes a family's metrics.
struct Maker<M>(Arc<dyn Fn() -> M + Send + Sync>);

impl<M> Clone for Maker<M> {
    fn clone(&self) -> Self {
        Maker(self.0.clone())
    }
}

impl<M> prometheus_client::metrics::family::MetricConstructor<M> for Maker<M> {
    fn new_metric(&self) -> M {
        (self.0)()
    }
}

/// A family's label values, with their names.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Labels {
    names: &'static [&'static str],
    values: Box<[Box<str>]>,
}

impl EncodeLabelSet for Labels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        for (name, value) in self.names.iter().zip(self.values.iter()) {
            prometheus_client::encoding::EncodeLabel::encode(&(*name, &**value), encoder.encode_label())?;
        }
        Ok(())
    }
}

impl<M> Family<M>
where
    M: Clone + EncodeMetric + TypedMetric + fmt::Debug + Send + Sync + 'static,
{
    fn new(labels: &'static [&'static str], make: Arc<dyn Fn() -> M + Send + Sync>) -> Family<M> {
        Family { labels, inner: prometheus_client::metrics::family::Family::new_with_constructor(Maker(make)) }
    }

    /// The handle and the metric to register.
    fn pair(self) -> (Family<M>, prometheus_client::metrics::family::Family<Labels, M, Maker<M>>) {
        let inner = self.inner.clone();
        (self, inner)
    }

    /// The metric with these label values, one per label name in order, created the first time
    /// (and exported from then on). Each call looks the values up under a read lock and copies
    /// them: keep the handle where a value is updated often.
    ///
    /// # Panics
    /// If there are not as many values as label names.
    pub fn with(&self, values: &[&str]) -> M {
        assert_eq!(values.len(), self.labels.len(), "label values {values:?} for the labels {:?}", self.labels);
        self.inner.get_or_create_owned(&Labels { names: self.labels, values: values.iter().map(|v| Box::from(*v)).collect() })
    }

    /// Stops exporting the metric with these label values; true if it was there.
    pub fn remove(&self, values: &[&str]) -> bool {
        self.inner.remove(&Labels { names: self.labels, values: values.iter().map(|v| Box::from(*v)).collect() })
    }
}

/// The runtime's HTTP metrics ([`Metrics::http`]).
pub(crate) struct HttpMetrics {
    requests: prometheus_client::metrics::family::Family<RequestLabels, Counter>,
    duration: prometheus_client::metrics::family::Family<RouteLabels, Histogram, HistogramMaker>,
    /// `http_requests_in_flight`.
    pub(crate) in_flight: Gauge,
}

impl HttpMetrics {
    /// Counts one request answered with `status` after `elapsed`: two lookups under read locks,
    /// no allocation once the route, method and status have been seen.
    pub(crate) fn record(&self, method: &'static str, route: &Route, status: u16, elapsed: Duration) {
        let labels = RouteLabels { method, route: route.clone() };
        self.duration.get_or_create(&labels).observe_duration(elapsed);
        self.requests.get_or_create(&RequestLabels { route: labels, status }).inc();
    }
}

/// A request's route template, as axum matched it, or none (the label `unmatched`).
#[derive(Clone, Debug)]
pub(crate) struct Route(pub(crate) Option<axum::extract::MatchedPath>);

impl Route {
    /// The template, or `unmatched`.
    pub(crate) fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", |m| m.as_str())
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct RouteLabels {
    method: &'static str,
    route: Route,
}

impl EncodeLabelSet for RouteLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        use prometheus_client::encoding::EncodeLabel;
        ("method", self.method).encode(encoder.encode_label())?;
        ("route", self.route.as_str()).encode(encoder.encode_label())
    }
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct RequestLabels {
    route: RouteLabels,
    status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        use prometheus_client::encoding::EncodeLabel;
        self.route.encode(encoder)?;
        ("status", self.status).encode(encoder.encode_label())
    }
}

/// The label of a request's method: a standard method's name, else `other` (a client may send
/// any token, and each would be a series).
pub(crate) fn method_label(method: &http::Method) -> &'static str {
    use http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_families_in_the_text_format() {
        let metrics = Metrics::new();
        let created = metrics.counter("jobs_created", "Jobs created.");
        created.inc();
        created.inc_by(2);
        assert_eq!(metrics.counter("jobs_created", "again").get(), 3, "a second registration gives the first");
        let queued = metrics.gauge("jobs_queued", "Jobs queued.");
        queued.add(5);
        queued.dec();
        let phases = metrics.gauge_family("jobs", "Jobs by phase.", &["phase"]);
        phases.with(&["QUEUED"]).set(4);
        phases.with(&["EXECUTING"]).inc();
        phases.with(&["EXECUTING"]).inc();
        let by_kind = metrics.counter_family("failures", "Failures by kind.", &["kind", "phase"]);
        by_kind.with(&["store", "a \"quoted\"\nvalue"]).inc();
        metrics.gauge_fn("workers_busy", "Busy workers.", || 7);
        metrics.gauge_fn("workers_busy", "Busy workers.", || 8);
        let text = metrics.encode();
        for line in [
            "# HELP jobs_created_total Jobs created.\n# TYPE jobs_created_total counter\njobs_created_total 3\n",
            "# TYPE jobs_queued gauge\njobs_queued 4\n",
            "jobs{phase=\"QUEUED\"} 4\n",
            "jobs{phase=\"EXECUTING\"} 2\n",
            "failures_total{kind=\"store\",phase=\"a \\\"quoted\\\"\\nvalue\"} 1\n",
            "workers_busy 7\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(phases.remove(&["QUEUED"]) && !metrics.encode().contains("QUEUED"));
    }

    #[test]
    fn histograms_count_each_observation_in_its_bucket() {
        let metrics = Metrics::new();
        let latency = metrics.histogram("store_seconds", "Store calls.", &[0.01, 0.1, 1.0]);
        for value in [0.005, 0.01, 0.05, 0.5, 3.0] {
            latency.observe(value);
        }
        latency.observe_duration(Duration::from_millis(20));
        assert_eq!(latency.count(), 6);
        assert!((latency.sum() - 3.585).abs() < 1e-9);
        let text = metrics.encode();
        for line in [
            "# TYPE store_seconds histogram\n",
            "store_seconds_bucket{le=\"0.01\"} 2\n",
            "store_seconds_bucket{le=\"0.1\"} 4\n",
            "store_seconds_bucket{le=\"1\"} 5\n",
            "store_seconds_bucket{le=\"+Inf\"} 6\n",
            "store_seconds_count 6\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        let family = metrics.histogram_family("calls_seconds", "Calls.", &["call"], &[1.0]);
        family.with(&["insert"]).observe(0.5);
        family.with(&["insert"]).observe(2.0);
        family.with(&["select"]).observe(0.5);
        let text = metrics.encode();
        assert!(text.contains("calls_seconds_bucket{call=\"insert\",le=\"1\"} 1\n") && text.contains("calls_seconds_count{call=\"insert\"} 2\n"), "{text}");
        assert!(text.contains("calls_seconds_count{call=\"select\"} 1\n"), "{text}");
    }

    #[test]
    fn concurrent_observations_are_all_counted() {
        let histogram = Histogram::new(LATENCY_BUCKETS);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..10_000 {
                        histogram.observe(f64::from(i % 100) / 1000.0);
                    }
                });
            }
        });
        assert_eq!(histogram.count(), 40_000);
        assert!((histogram.sum() - 4.0 * 100.0 * 4.95).abs() < 1e-6, "{}", histogram.sum());
    }

    #[test]
    #[should_panic(expected = "already registered as a counter")]
    fn a_name_is_one_kind() {
        let metrics = Metrics::new();
        metrics.counter("jobs", "Jobs.");
        metrics.gauge("jobs", "Jobs.");
    }

    #[test]
    fn names_and_labels_are_checked() {
        for bad in ["", "1jobs", "jobs-created", "jobs created", "jobs_total"] {
            assert!(std::panic::catch_unwind(|| Metrics::new().counter(bad, "x")).is_err(), "{bad:?}");
        }
        assert!(std::panic::catch_unwind(|| Metrics::new().gauge_family("jobs", "x", &["__phase"])).is_err());
        assert!(std::panic::catch_unwind(|| Metrics::new().gauge_family("jobs", "x", &["phase"]).with(&[])).is_err());
        assert!(std::panic::catch_unwind(|| Metrics::new().histogram("h", "x", &[1.0, 0.5])).is_err());
        let metrics = Metrics::new();
        metrics.gauge_family("jobs", "x", &["phase"]);
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| metrics.gauge_family("jobs", "x", &["owner"]))).is_err(), "other labels");
        assert!(valid_name("ns:jobs_created") && valid_label("phase_2"));
    }

    #[test]
    fn request_metrics_label_method_route_and_status() {
        let metrics = Metrics::new();
        let http = metrics.http();
        assert!(std::ptr::eq(http, metrics.http()), "registered once");
        http.record("GET", &Route(None), 404, Duration::from_millis(2));
        http.record("GET", &Route(None), 404, Duration::from_millis(200));
        assert_eq!(method_label(&http::Method::from_bytes(b"FROB").unwrap()), "other");
        let text = metrics.encode();
        for line in [
            "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2\n",
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"unmatched\",le=\"0.0025\"} 1\n",
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"unmatched\",le=\"0.25\"} 2\n",
            "http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\"} 2\n",
            "http_requests_in_flight 0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
    }
}
