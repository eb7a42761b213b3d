//! Server-Sent Events of a stored stream (a run's, a work session's): `id` = sequence number,
//! `event` = kind, JSON `data`; resumable after `Last-Event-ID`, with keep-alive comments, and
//! ended after the stream's terminal event. Stored events are the truth; wake-ups from any
//! instance only make them arrive sooner.

use std::future::Future;
use std::time::Duration;

use actix_web::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::DomainResult;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::extract::int_param;
use crate::pagination::ListBody;
use crate::problem::ApiError;

/// How often an idle event stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a stream waits for a wake-up before it looks again anyway.
const LOOK_AGAIN: Duration = Duration::from_secs(2);

/// One event, as a stream sends it.
pub(crate) struct Event {
    pub seq: i64,
    pub kind: &'static str,
    pub data: Value,
    /// Whether it ends the stream.
    pub terminal: bool,
}

/// Event parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events after this sequence number (default 0: from the start). A stream also takes
    /// `Last-Event-ID`.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Most events in a JSON page, 1 to 500.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

/// What a request for events asks.
struct Asked {
    /// Read events after this one.
    after: i64,
    /// Most events in a JSON page.
    limit: Option<i64>,
    /// Whether it asked for a stream (`Accept: text/event-stream`).
    streaming: bool,
}

impl EventsQuery {
    /// The request's parameters, `Last-Event-ID` taking over `after` for a stream.
    fn asked(&self, req: &HttpRequest) -> Result<Asked, ApiError> {
        let limit = int_param("limit", self.limit.as_deref())?;
        let mut after = int_param("after", self.after.as_deref())?.unwrap_or(0);
        let streaming = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
        if streaming
            && let Some(last) = req
                .headers()
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
        {
            after = last.trim().parse().map_err(|_| {
                ApiError::invalid(
                    "Last-Event-ID",
                    "type",
                    "Last-Event-ID must be an event's sequence number",
                )
            })?;
        }
        Ok(Asked {
            after,
            limit,
            streaming,
        })
    }
}

/// Answers a request for a stream's events: a JSON page (`{data}`) of `B`s, or with
/// `Accept: text/event-stream` the stream itself. `read(after, limit)` reads the caller's
/// events; its first read answers 404 (or 403) before a stream starts.
pub(crate) async fn answer<E, B, F, Fut>(
    state: web::Data<crate::AppState>,
    req: &HttpRequest,
    query: &EventsQuery,
    stream: Uuid,
    read: F,
) -> Result<HttpResponse, ApiError>
where
    E: Into<Event>,
    B: From<E> + serde::Serialize + utoipa::ToSchema,
    F: Fn(i64, Option<i64>) -> Fut + Clone + 'static,
    Fut: Future<Output = DomainResult<Vec<E>>> + 'static,
{
    let asked = query.asked(req)?;
    if !asked.streaming {
        let events = read(asked.after, asked.limit).await?;
        return Ok(HttpResponse::Ok().json(ListBody::<B>::from_items(events)));
    }
    let sent = |events: Vec<E>| events.into_iter().map(Into::into).collect::<Vec<Event>>();
    let first = sent(read(asked.after, None).await?);
    Ok(respond(state, stream, asked.after, first, move |after| {
        let read = read.clone();
        async move { read(after, None).await.map(sent) }
    }))
}

/// The stream of `stream`'s events after `after`, starting with `first` (read by the caller
/// before answering, so a 404 or 403 comes before the stream starts) and going on with
/// `read(after)`. The stream ends after a terminal event, or when a read fails (access ended).
fn respond<F, Fut>(
    state: web::Data<crate::AppState>,
    stream: Uuid,
    after: i64,
    first: Vec<Event>,
    read: F,
) -> HttpResponse
where
    F: Fn(i64) -> Fut + 'static,
    Fut: Future<Output = DomainResult<Vec<Event>>> + 'static,
{
    let state = Reader {
        state,
        stream,
        after,
        pending: Some(first),
        done: false,
        read,
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(futures_util::stream::unfold(state, Reader::next))
}

/// One client's place in a stream.
struct Reader<F> {
    state: web::Data<crate::AppState>,
    stream: Uuid,
    after: i64,
    pending: Option<Vec<Event>>,
    done: bool,
    read: F,
}

impl<F, Fut> Reader<F>
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = DomainResult<Vec<Event>>>,
{
    /// The last chunk of a stream this instance stops serving: a reconnection delay, so that
    /// the client comes back (with `Last-Event-ID`) soon, to an instance that stays.
    fn closing(mut self) -> (Result<Bytes, actix_web::Error>, Self) {
        self.done = true;
        (
            Ok(Bytes::from_static(b": shutting down\nretry: 1000\n\n")),
            self,
        )
    }

    /// The next chunk: the events stored since the last one, or a keep-alive comment; nothing
    /// once the terminal event went out (or the caller lost access).
    async fn next(mut self) -> Option<(Result<Bytes, actix_web::Error>, Self)> {
        if self.done {
            return None;
        }
        let mut wakeups = self.state.run_signals.subscribe();
        let quiet_since = tokio::time::Instant::now();
        loop {
            let events = match self.pending.take() {
                Some(events) => events,
                // Access ended (a revoked session, say): the stream ends.
                None => (self.read)(self.after).await.ok()?,
            };
            if !events.is_empty() {
                let mut chunk = String::new();
                for event in events {
                    self.after = event.seq;
                    self.done |= event.terminal;
                    chunk.push_str(&format!(
                        "id: {}\nevent: {}\ndata: {}\n\n",
                        event.seq, event.kind, event.data
                    ));
                }
                return Some((Ok(Bytes::from(chunk)), self));
            }
            if quiet_since.elapsed() >= KEEP_ALIVE {
                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self));
            }
            if self.state.draining.is_draining() {
                return Some(self.closing());
            }
            tokio::select! {
                () = wakeups.wait(self.stream, LOOK_AGAIN) => {}
                () = self.state.draining.started() => return Some(self.closing()),
            }
        }
    }
}
