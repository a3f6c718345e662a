//! The one HTTP helper every source uses: rate limiting (governor), retries with exponential backoff and
//! full jitter that honour `Retry-After`, timeouts, a user agent, and one classification of what is
//! retryable. Plus [`paginate`], which turns "call with a continuation token" into a stream of pages.

use crate::error::ConnectorError;
use crate::message::FailureType;
use futures::future::BoxFuture;
use futures::Stream;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A shared requests-per-second budget. Clones share the budget.
#[derive(Clone)]
pub struct RateLimit(Arc<DefaultDirectRateLimiter>);

impl RateLimit {
    /// At most `per_second` requests per second (fractions allowed, e.g. 0.5), no bursts above one second's worth.
    pub fn per_second(per_second: f64) -> Self {
        let per_second = if per_second.is_finite() && per_second > 0.0 { per_second } else { 1.0 };
        let quota = if per_second >= 1.0 {
            let n = NonZeroU32::new(per_second.round() as u32).unwrap_or(NonZeroU32::MIN);
            Quota::per_second(n)
        } else {
            Quota::with_period(Duration::from_secs_f64(1.0 / per_second)).expect("non-zero period")
        };
        RateLimit(Arc::new(RateLimiter::direct(quota)))
    }
    /// Exactly `per_second` requests per second, evenly spaced (burst of one): no sliding one-second window
    /// ever holds more than `per_second` requests, as APIs that count per second (Airtable) require.
    pub fn spaced(per_second: f64) -> Self {
        let per_second = if per_second.is_finite() && per_second > 0.0 { per_second } else { 1.0 };
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / per_second)).expect("non-zero period");
        RateLimit(Arc::new(RateLimiter::direct(quota)))
    }
    /// Wait until one request may be sent.
    pub async fn acquire(&self) {
        self.0.until_ready().await;
    }
}

/// How requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff ceiling; doubles each retry.
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
    /// Fixed wait after a 429 without `Retry-After` (Airtable asks for 30 s); None = normal backoff.
    pub rate_limited_wait: Option<Duration>,
    /// Upper bound for a server-requested `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            rate_limited_wait: None,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// What went wrong with a request, after retries.
#[derive(Debug, Clone)]
pub enum HttpError {
    /// The server answered with a non-success status.
    Status { status: u16, url: String, body: String, retry_after: Option<Duration> },
    /// No answer: connection refused/reset, DNS, timeout.
    Transport { url: String, message: String, timeout: bool },
    /// A 2xx answer whose body was unusable (HTML instead of JSON, truncated).
    Body { url: String, message: String, retryable: bool },
}

impl HttpError {
    /// Whether repeating the same request may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504 | 520..=599),
            HttpError::Transport { .. } => true,
            HttpError::Body { retryable, .. } => *retryable,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// The default mapping to an Airbyte failure type: 401/403/404/4xx are the user's to fix, the rest transient.
    pub fn failure_type(&self) -> FailureType {
        match self {
            _ if self.retryable() => FailureType::TransientError,
            HttpError::Status { .. } => FailureType::ConfigError,
            HttpError::Body { .. } => FailureType::SystemError,
            HttpError::Transport { .. } => FailureType::TransientError,
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Status { status, url, body, .. } => {
                let body: String = body.chars().take(300).collect();
                write!(f, "HTTP {status} from {url}: {body}")
            }
            HttpError::Transport { url, message, .. } => write!(f, "request to {url} failed: {message}"),
            HttpError::Body { url, message, .. } => write!(f, "unusable answer from {url}: {message}"),
        }
    }
}
impl std::error::Error for HttpError {}

impl From<HttpError> for ConnectorError {
    fn from(e: HttpError) -> Self {
        ConnectorError::new(e.failure_type(), e.to_string())
    }
}

/// A URL safe to log: no query string (it may carry keys) and no user info.
pub fn loggable_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// Credentials that can expire (OAuth access tokens). [`HttpClient::send_authorized`] asks for the header before
/// every attempt (so a token about to expire can be refreshed first) and, after a 401, lets the provider renew
/// once and tries again.
pub trait Authenticator: Send + Sync {
    /// The `Authorization` header value for the next attempt.
    fn authorization(&self) -> BoxFuture<'_, Result<HeaderValue, HttpError>>;
    /// The server answered 401 to a request sent with `rejected`: renew the credentials (if another request
    /// already did, nothing to do). `Ok(true)` means the request should be sent again.
    fn renew<'a>(&'a self, rejected: &'a HeaderValue) -> BoxFuture<'a, Result<bool, HttpError>>;
}

/// An HTTP client with retries and rate limits.
#[derive(Clone)]
pub struct HttpClient {
    client: Client,
    policy: RetryPolicy,
}

/// The status, headers and body of a successful answer.
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub url: String,
    pub body: bytes::Bytes,
}

impl HttpResponse {
    /// Parse the body as JSON; HTML or truncated bodies give a retryable [`HttpError::Body`].
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            let looks_html = self.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
            let message = if looks_html {
                "expected JSON but got an HTML page".to_string()
            } else if e.is_eof() {
                format!("truncated JSON body ({} bytes): {e}", self.body.len())
            } else {
                format!("invalid JSON body: {e}")
            };
            HttpError::Body { url: self.url.clone(), message, retryable: true }
        })
    }
}

impl HttpClient {
    /// A client with the given user agent, per-request timeout and retry policy.
    pub fn new(user_agent: &str, timeout: Duration, policy: RetryPolicy) -> Result<Self, ConnectorError> {
        let client = Client::builder()
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(15).min(timeout))
            .build()
            .map_err(|e| ConnectorError::system(format!("cannot build HTTP client: {e}")))?;
        Ok(HttpClient { client, policy })
    }

    pub fn inner(&self) -> &Client {
        &self.client
    }
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Send the request built by `build` (called again for every attempt), waiting on every limit first,
    /// and retry retryable failures. Returns a 2xx answer or the last error.
    pub async fn send(
        &self,
        limits: &[&RateLimit],
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<HttpResponse, HttpError> {
        self.send_parsed(limits, build, Ok).await
    }

    /// Like [`send`](Self::send), then `parse` the answer; a retryable parse error is retried too.
    pub async fn send_parsed<T>(
        &self,
        limits: &[&RateLimit],
        build: impl Fn(&Client) -> RequestBuilder,
        parse: impl Fn(HttpResponse) -> Result<T, HttpError>,
    ) -> Result<T, HttpError> {
        self.send_authorized(limits, None, build, parse).await
    }

    /// Like [`send_parsed`](Self::send_parsed), with the `Authorization` header from `auth` on every attempt and
    /// one renewal of the credentials after a 401.
    pub async fn send_authorized<T>(
        &self,
        limits: &[&RateLimit],
        auth: Option<&dyn Authenticator>,
        build: impl Fn(&Client) -> RequestBuilder,
        parse: impl Fn(HttpResponse) -> Result<T, HttpError>,
    ) -> Result<T, HttpError> {
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            for l in limits {
                l.acquire().await;
            }
            let header = match auth {
                Some(a) => Some(a.authorization().await?),
                None => None,
            };
            let result = match self.attempt(&build, header.as_ref()).await {
                Ok(resp) => parse(resp),
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if e.status() == Some(401) && !renewed && auth.is_some() => {
                    let (Some(a), Some(h)) = (auth, header.as_ref()) else { return Err(e) };
                    if !a.renew(h).await? {
                        return Err(e);
                    }
                    tracing::info!("Credentials renewed after a 401; sending the request again.");
                    renewed = true;
                }
                Err(e) if e.retryable() && attempt < self.policy.max_retries => {
                    let wait = self.delay_for(&e, attempt);
                    tracing::warn!(
                        "Retrying in {:.1} s (attempt {} of {}): {e}",
                        wait.as_secs_f64(),
                        attempt + 2,
                        self.policy.max_retries + 1
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn attempt(
        &self,
        build: &impl Fn(&Client) -> RequestBuilder,
        authorization: Option<&HeaderValue>,
    ) -> Result<HttpResponse, HttpError> {
        let mut builder = build(&self.client);
        if let Some(h) = authorization {
            builder = builder.header(AUTHORIZATION, h.clone());
        }
        let req = builder.build().map_err(|e| HttpError::Transport {
            url: String::new(),
            message: e.to_string(),
            timeout: false,
        })?;
        let url = loggable_url(req.url());
        let resp = self.client.execute(req).await.map_err(|e| HttpError::Transport {
            url: url.clone(),
            message: describe_reqwest(&e),
            timeout: e.is_timeout(),
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| HttpError::Transport {
            url: url.clone(),
            message: format!("body interrupted: {}", describe_reqwest(&e)),
            timeout: e.is_timeout(),
        })?;
        if status.is_success() {
            Ok(HttpResponse { status, headers, url, body })
        } else {
            Err(HttpError::Status {
                status: status.as_u16(),
                url,
                body: String::from_utf8_lossy(&body).into_owned(),
                retry_after: retry_after(&headers),
            })
        }
    }

    fn delay_for(&self, e: &HttpError, attempt: u32) -> Duration {
        if let HttpError::Status { retry_after: Some(d), .. } = e {
            return (*d).min(self.policy.max_retry_after);
        }
        if let (HttpError::Status { status: 429, .. }, Some(w)) = (e, self.policy.rate_limited_wait) {
            return w;
        }
        backoff(&self.policy, attempt)
    }
}

/// Exponential backoff with full jitter: a random wait in [0, min(max, base * 2^attempt)].
pub fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let ceiling = policy.base_delay.saturating_mul(1u32 << attempt.min(20)).min(policy.max_delay);
    let ceiling_ms = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::random_range(ceiling_ms / 2..=ceiling_ms))
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() { "timed out".to_string() } else { "error sending request".to_string() };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Turn "fetch a page with an optional continuation token" into a stream of pages, ending when the
/// fetch returns no next token. The first error ends the stream.
pub fn paginate<T, Tok, F, Fut>(first: Option<Tok>, fetch: F) -> impl Stream<Item = Result<Vec<T>, ConnectorError>>
where
    F: FnMut(Option<Tok>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<Tok>), ConnectorError>>,
{
    enum St<Tok> {
        Next(Option<Tok>),
        Done,
    }
    futures::stream::unfold((St::Next(first), fetch), |(st, mut fetch)| async move {
        match st {
            St::Done => None,
            St::Next(tok) => match fetch(tok).await {
                Ok((items, Some(next))) => Some((Ok(items), (St::Next(Some(next)), fetch))),
                Ok((items, None)) => Some((Ok(items), (St::Done, fetch))),
                Err(e) => Some((Err(e), (St::Done, fetch))),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn paginate_follows_tokens() {
        let pages: Vec<_> = paginate(None, |tok: Option<u32>| async move {
            let n = tok.unwrap_or(0);
            Ok((vec![n], if n < 2 { Some(n + 1) } else { None }))
        })
        .collect()
        .await;
        let flat: Vec<u32> = pages.into_iter().flat_map(|p| p.unwrap()).collect();
        assert_eq!(flat, vec![0, 1, 2]);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        let p = RetryPolicy::default();
        for a in 0..10 {
            assert!(backoff(&p, a) <= p.max_delay);
        }
    }

    /// A one-route HTTP server: 200 for `Bearer fresh`, 401 otherwise; counts requests.
    async fn auth_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                let (status, body) = if req.contains("authorization: bearer fresh") {
                    ("200 OK", "{}")
                } else {
                    ("401 Unauthorized", "no")
                };
                let resp =
                    format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        (url, hits)
    }

    struct TestAuth {
        token: std::sync::Mutex<&'static str>,
        renewals: std::sync::atomic::AtomicUsize,
        can_renew: bool,
    }
    impl Authenticator for TestAuth {
        fn authorization(&self) -> BoxFuture<'_, Result<HeaderValue, HttpError>> {
            let t = *self.token.lock().unwrap();
            Box::pin(async move { Ok(HeaderValue::from_str(&format!("Bearer {t}")).unwrap()) })
        }
        fn renew<'a>(&'a self, _: &'a HeaderValue) -> BoxFuture<'a, Result<bool, HttpError>> {
            Box::pin(async move {
                self.renewals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if self.can_renew {
                    *self.token.lock().unwrap() = "fresh";
                }
                Ok(self.can_renew)
            })
        }
    }

    #[tokio::test]
    async fn renews_credentials_once_after_401() {
        let (url, hits) = auth_server().await;
        let client = HttpClient::new("t", Duration::from_secs(5), RetryPolicy::default()).unwrap();
        let auth = TestAuth { token: std::sync::Mutex::new("stale"), renewals: 0.into(), can_renew: true };
        let r = client.send_authorized(&[], Some(&auth), |c| c.get(&url), Ok).await;
        assert!(r.is_ok());
        assert_eq!(auth.renewals.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);

        let auth = TestAuth { token: std::sync::Mutex::new("stale"), renewals: 0.into(), can_renew: false };
        let e = client.send_authorized(&[], Some(&auth), |c| c.get(&url), Ok).await.err().unwrap();
        assert_eq!(e.status(), Some(401));
        assert_eq!(auth.renewals.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn spaced_limit_has_no_burst() {
        let limit = RateLimit::spaced(20.0);
        let start = std::time::Instant::now();
        for _ in 0..5 {
            limit.acquire().await;
        }
        // Five evenly spaced permits at 20/s take at least four periods of 50 ms.
        assert!(start.elapsed() >= Duration::from_millis(190), "{:?}", start.elapsed());
    }

    #[test]
    fn classification() {
        let s = |status| HttpError::Status { status, url: "u".into(), body: String::new(), retry_after: None };
        assert!(s(429).retryable() && s(503).retryable() && !s(401).retryable() && !s(422).retryable());
        assert_eq!(s(401).failure_type(), FailureType::ConfigError);
        assert_eq!(s(500).failure_type(), FailureType::TransientError);
    }
}
