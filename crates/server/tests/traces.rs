//! Traces over OTLP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the server sends a span for each
//! request, named by its route template, and a child span for each unit of work in the
//! database. A receiver in this test stands in for the collector and decodes what arrives with
//! the OpenTelemetry project's own protobuf definitions.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use common::{call, exited, free_port, ready, register, serve_command, terminate};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;

/// Accepts OTLP/HTTP posts on a thread of its own and hands over every span in them.
fn collector() -> (String, mpsc::Receiver<(String, Span)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (spans, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let spans = spans.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| r.attributes.iter())
                            .find(|a| a.key == "service.name")
                            .and_then(|a| a.value.clone())
                            .map(|v| format!("{:?}", v.value))
                            .unwrap_or_default();
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                let _ = spans.send((format!("{path} {service}"), span));
                            }
                        }
                    }
                    let _ = writer.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                    );
                }
            });
        }
    });
    (endpoint, received)
}

#[tokio::test]
async fn requests_and_their_units_of_work_are_exported_as_spans() {
    let (endpoint, received) = collector();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/traces.db?mode=rwc", dir.path().display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve_command(&database, port, &["--run-concurrency", "0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .spawn()
        .unwrap();
    ready(&client, &base).await;
    let token = register(&client, &base, "traces@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let project = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/projects"),
        Some(&token),
        Some(json!({ "name": "traced" })),
    )
    .await;
    call(
        &client,
        reqwest::Method::GET,
        format!("{base}/api/v1/projects/{}", project["id"].as_str().unwrap()),
        Some(&token),
        None,
    )
    .await;
    // Stopping flushes whatever the batch has not sent yet.
    terminate(&server);
    assert!(exited(&mut server, Duration::from_secs(20)).await.success());

    let spans: Vec<(String, Span)> = received.try_iter().collect();
    let named = |name: &str| {
        spans
            .iter()
            .find(|(_, span)| span.name == name)
            .unwrap_or_else(|| {
                let names: Vec<_> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
                panic!("no span {name:?} among {names:?}")
            })
    };
    let (to, read) = named("GET /api/v1/projects/{project_id}");
    assert!(to.starts_with("/v1/traces "), "{to}");
    assert!(to.contains("bulkhead"), "service name: {to}");
    assert_eq!(read.kind, SpanKind::Server as i32);
    let status = read
        .attributes
        .iter()
        .find(|a| a.key == "http.response.status_code")
        .unwrap_or_else(|| panic!("no status: {:?}", read.attributes));
    assert!(format!("{:?}", status.value).contains("200"), "{status:?}");
    let (_, unit) = spans
        .iter()
        .find(|(_, span)| span.name == "db read" && span.parent_span_id == read.span_id)
        .unwrap_or_else(|| panic!("no unit of work under the read: {spans:#?}"));
    assert_eq!(unit.trace_id, read.trace_id);
    assert_eq!(unit.kind, SpanKind::Client as i32);
    assert!(unit.start_time_unix_nano >= read.start_time_unix_nano);
    assert!(unit.end_time_unix_nano <= read.end_time_unix_nano);
    let (_, create) = named("POST /api/v1/projects");
    assert!(
        spans
            .iter()
            .any(|(_, span)| span.name == "db write" && span.parent_span_id == create.span_id),
        "no write under the create"
    );
}
