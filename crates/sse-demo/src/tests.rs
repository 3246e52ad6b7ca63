use super::*;
use sse_core::{ConnectOptions, HubConfig, ResponseStream};

fn body_json(response: &http::Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).expect("a JSON body")
}

#[test]
fn routes_by_method_and_path() {
    assert_eq!(route(&Method::GET, "/"), Route::Page);
    assert_eq!(route(&Method::HEAD, "/stats"), Route::Stats);
    assert_eq!(route(&Method::POST, "/events"), Route::Events);
    assert_eq!(route(&Method::POST, "/publish"), Route::Publish);
    assert_eq!(
        route(&Method::GET, "/publish"),
        Route::MethodNotAllowed("POST")
    );
    assert_eq!(route(&Method::GET, "/nope"), Route::NotFound);
}

#[test]
fn publishes_to_everyone_a_topic_or_one_client() {
    // Fixed ids, to name them (by default they start from the clock).
    let hub = Hub::new(HubConfig::default().first_sequence(Some(0)));
    let _client = hub.connect(ConnectOptions::new().client_id("c")).unwrap();
    let everyone = publish(&hub, br#"{"data": "hi"}"#);
    assert_eq!(everyone.status(), StatusCode::ACCEPTED);
    assert_eq!(body_json(&everyone), json!({"id": "1"}));
    let topic = publish(&hub, br#"{"data": "t", "topic": "news", "id": "n-1"}"#);
    assert_eq!(body_json(&topic), json!({"id": "n-1"}));
    let direct = publish(
        &hub,
        br#"{"data": "d", "client": "c", "event": "x", "retry": 5}"#,
    );
    assert_eq!(direct.status(), StatusCode::ACCEPTED);
    assert_eq!(hub.metrics().published, 3);
}

#[test]
fn invalid_input_is_a_json_4xx_and_sends_nothing() {
    let hub = Hub::default();
    let cases: [(&[u8], StatusCode); 9] = [
        (b"not json", StatusCode::BAD_REQUEST),
        // An empty id would reset every receiving browser's last event id.
        (br#"{"data": "x", "id": ""}"#, StatusCode::BAD_REQUEST),
        (br#"{"event": "x"}"#, StatusCode::BAD_REQUEST),
        (br#"{"data": 1}"#, StatusCode::BAD_REQUEST),
        (br#"{"data": "x", "id": "a\nb"}"#, StatusCode::BAD_REQUEST),
        (
            br#"{"data": "x", "event": "a\rb"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (br#"{"data": "x", "retry": -1}"#, StatusCode::BAD_REQUEST),
        (
            br#"{"data": "x", "topic": "t", "client": "c"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            br#"{"data": "x", "client": "nobody"}"#,
            StatusCode::NOT_FOUND,
        ),
    ];
    for (body, status) in cases {
        let response = publish(&hub, body);
        assert_eq!(
            response.status(),
            status,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(body_json(&response)["error"].is_string());
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }
    assert_eq!(hub.metrics().published, 0);
}

#[test]
fn stats_and_disconnect_answer_json() {
    let hub = Hub::default();
    let _client = hub.connect(ConnectOptions::new().client_id("c")).unwrap();
    assert_eq!(body_json(&stats(&hub))["active"], 1);
    assert_eq!(
        disconnect(&hub, br#"{"client": "c"}"#).status(),
        StatusCode::OK
    );
    assert_eq!(
        disconnect(&hub, br#"{"client": "c"}"#).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(disconnect(&hub, b"{}").status(), StatusCode::BAD_REQUEST);
}

#[test]
fn flags_set_the_hub_config() {
    let args = |list: &[&str]| DemoArgs::parse(list.iter().map(|s| s.to_string()));
    let parsed = args(&[
        "--addr",
        "127.0.0.1:9000",
        "--history",
        "50",
        "--max-lag",
        "10",
        "--keep-alive",
        "0",
        "--policy",
        "drop-oldest",
        "--max-clients",
        "3",
        "--redis",
        "redis://127.0.0.1:6390/",
        "--trust-client-id",
    ])
    .unwrap()
    .unwrap();
    assert_eq!(parsed.addr.port(), 9000);
    assert_eq!(parsed.redis.as_deref(), Some("redis://127.0.0.1:6390/"));
    let expected = HubConfig::default()
        .history(50)
        .max_lag(10)
        .keep_alive(None)
        .lag_policy(sse_core::LagPolicy::DropOldest)
        .max_clients(Some(3))
        .client_id_event(Some("client-id".into()))
        .trust_client_id(true);
    assert_eq!(format!("{:?}", parsed.config), format!("{expected:?}"));
    assert!(args(&["--help"]).unwrap().is_none());
    assert!(args(&["--history"]).is_err());
    assert!(args(&["--history", "x"]).is_err());
    assert!(args(&["--policy", "sometimes"]).is_err());
    assert!(args(&["--bogus"]).is_err());
}

#[test]
fn without_redis_the_demo_publishes_to_its_own_hub() {
    let args = DemoArgs::parse(Vec::new()).unwrap().unwrap();
    let demo = futures_lite::future::block_on(Demo::open(&args)).expect("no Redis needed");
    let mut client = demo.hub().connect(ConnectOptions::new()).unwrap();
    let publish = post("/publish", "application/json");
    let response =
        futures_lite::future::block_on(demo.respond(&publish, br#"{"data": "hi", "id": "own"}"#));
    assert_eq!(body_json(&response), json!({"id": "own"}));
    let (stats, ()) = http::Request::get("/stats").body(()).unwrap().into_parts();
    let stats = futures_lite::future::block_on(demo.respond(&stats, b""));
    assert_eq!(body_json(&stats)["published"], 1);
    assert!(body_json(&stats).get("redis").is_none());
    let batch = futures_lite::future::block_on(futures_lite::StreamExt::next(&mut client));
    let batch = batch.expect("a batch");
    let frames: Vec<_> = batch.frames().collect();
    let announced = format!("event: client-id\ndata: {}\n\n", client.id());
    let first = demo.hub().config().first_sequence.expect("taken");
    let checkpoint = format!("id: {first}\n\n");
    assert_eq!(
        frames,
        [
            announced.as_bytes(),
            checkpoint.as_bytes(),
            b"id: own\ndata: hi\n\n"
        ]
    );
    // Runs until the hub shuts down (no backplane: only the replies' expiry).
    demo.hub().shutdown(None);
    futures_lite::future::block_on(demo.clone().run(|_| async {}));
}

fn post(path: &str, content_type: &str) -> http::request::Parts {
    let request = http::Request::post(path).header("content-type", content_type);
    request.body(()).unwrap().into_parts().0
}

#[test]
fn a_post_that_is_not_json_is_415_and_does_nothing() {
    let args = DemoArgs::parse(Vec::new()).unwrap().unwrap();
    let demo = futures_lite::future::block_on(Demo::open(&args)).expect("no Redis needed");
    let _client = demo.hub().connect(ConnectOptions::new()).unwrap();
    // What a cross-origin form can send without asking: text/plain, or a form.
    for (path, content_type) in [
        ("/publish", "text/plain"),
        ("/publish", "application/x-www-form-urlencoded"),
        ("/disconnect", "text/plain"),
        ("/publish", ""),
    ] {
        let request = post(path, content_type);
        let body = br#"{"data": "forged"}"#;
        let response = futures_lite::future::block_on(demo.respond(&request, body));
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{path} {content_type}"
        );
    }
    // A route that takes no body answers as it would anyway.
    let page = futures_lite::future::block_on(demo.respond(&post("/", "text/plain"), b""));
    assert_eq!(page.status(), StatusCode::METHOD_NOT_ALLOWED);
    let json = post("/publish", "application/json; charset=utf-8");
    let response = futures_lite::future::block_on(demo.respond(&json, br#"{"data": "ok"}"#));
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(demo.hub().metrics().published, 1, "only the JSON one");
}

#[test]
fn a_retry_over_a_day_is_refused() {
    let hub = Hub::default();
    let day = MAX_RETRY_MS;
    let ok = publish(
        &hub,
        format!(r#"{{"data": "x", "retry": {day}}}"#).as_bytes(),
    );
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let over = publish(
        &hub,
        format!(r#"{{"data": "x", "retry": {}}}"#, day + 1).as_bytes(),
    );
    assert_eq!(over.status(), StatusCode::BAD_REQUEST);
    let huge = publish(&hub, br#"{"data": "x", "retry": 18446744073709551615}"#);
    assert_eq!(huge.status(), StatusCode::BAD_REQUEST);
    assert_eq!(hub.metrics().published, 1);
}

#[test]
fn stats_and_metrics_show_every_figure_of_the_hub() {
    let args = DemoArgs::parse(Vec::new()).unwrap().unwrap();
    let demo = futures_lite::future::block_on(Demo::open(&args)).expect("no Redis needed");
    let _client = demo.hub().connect(ConnectOptions::new()).unwrap();
    let get = |path: &str| http::Request::get(path).body(()).unwrap().into_parts().0;
    let stats = futures_lite::future::block_on(demo.respond(&get("/stats"), b""));
    let stats = body_json(&stats);
    let metrics = futures_lite::future::block_on(demo.respond(&get("/metrics"), b""));
    assert_eq!(
        metrics.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let text = std::str::from_utf8(metrics.body()).unwrap();
    for figure in demo.hub().metrics().figures() {
        assert_eq!(stats[figure.name], figure.value, "{}: {stats}", figure.name);
        let kind = match figure.kind {
            sse_core::FigureKind::Counter => "counter",
            sse_core::FigureKind::Gauge => "gauge",
        };
        let name = figure.metric_name("sse");
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}: {text}"
        );
        assert!(
            text.contains(&format!("\n{name} {}\n", figure.value)),
            "{name}: {text}"
        );
    }
    assert!(text.contains("\nsse_active 1\n"), "{text}");
    assert!(text.contains("\nsse_connects_total 1\n"), "{text}");
}

#[test]
fn metrics_show_the_histograms_streams_record() {
    let args = DemoArgs::parse(Vec::new()).unwrap().unwrap();
    let demo = futures_lite::future::block_on(Demo::open(&args)).expect("no Redis needed");
    let mut stream: sse_core::ResponseStream = ["a", "b", "c"]
        .into_iter()
        .map(sse_core::Event::new)
        .collect();
    futures_lite::future::block_on(async {
        use futures_lite::StreamExt;
        while stream.next().await.is_some() {}
    });
    drop(stream);
    let mut client = demo.hub().connect(ConnectOptions::new()).unwrap();
    demo.hub().broadcast(&sse_core::Event::new("one"));
    futures_lite::future::block_on(async {
        use futures_lite::StreamExt;
        client.next().await.expect("a batch");
    });
    drop(client);
    let get = http::Request::get("/metrics")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let metrics = futures_lite::future::block_on(demo.respond(&get, b""));
    let text = std::str::from_utf8(metrics.body()).unwrap();
    for histogram in sse_core::HISTOGRAMS {
        let name = histogram.name;
        assert!(
            text.contains(&format!("# TYPE {name} histogram\n")),
            "{name}: {text}"
        );
        let count = format!("{name}_count{{stream=\"response\"}} ");
        assert!(text.contains(&count), "{count}: {text}");
    }
    for histogram in [sse_core::FRAMES_PER_WRITE, sse_core::STREAM_DURATION] {
        let count = format!("{}_count{{stream=\"hub\"}} ", histogram.name);
        assert!(text.contains(&count), "{count}: {text}");
    }
    let buckets = format!(
        "{}_bucket{{stream=\"response\",le=\"4\"}}",
        sse_core::FRAMES_PER_WRITE.name
    );
    assert!(text.contains(&buckets), "{buckets}: {text}");
}

fn demo(flags: &[&str]) -> Demo {
    let args = DemoArgs::parse(flags.iter().map(|flag| (*flag).to_owned()))
        .unwrap()
        .unwrap();
    futures_lite::future::block_on(Demo::open(&args)).expect("no Redis needed")
}

/// A generate request: `GET` with `query`, or `POST` with `body`.
fn generate_request(query: Option<&str>) -> http::request::Parts {
    match query {
        Some(query) => {
            let request = http::Request::get(format!("/generate?{query}"));
            request.body(()).unwrap().into_parts().0
        }
        None => post("/generate", "application/json"),
    }
}

/// Starts a generation whose producer task is handed back, not run, and whose
/// pauses never end on their own; the response instead when it is refused.
fn start_generation(
    demo: &Demo,
    query: Option<&str>,
    body: &[u8],
) -> Result<(ResponseStream, generate::Task), Box<http::Response<Bytes>>> {
    let mut task = None;
    let answer = futures_lite::future::block_on(demo.generate(
        &generate_request(query),
        body,
        |spawned| task = Some(spawned),
        |_| std::future::pending::<()>(),
    ));
    match answer {
        Answer::Stream(stream, _) => Ok((stream, task.expect("a producer"))),
        Answer::Response(refused) => Err(Box::new(refused)),
    }
}

fn generate_stats(demo: &Demo) -> serde_json::Value {
    let (stats, ()) = http::Request::get("/stats").body(()).unwrap().into_parts();
    body_json(&futures_lite::future::block_on(demo.respond(&stats, b"")))["generate"].clone()
}

#[test]
fn a_rate_out_of_range_is_400_never_a_panic() {
    let demo = demo(&[]);
    for rate in [
        "1e-20", "5e-324", "-1", "NaN", "inf", "-0.0001", "1e9", "0.0009",
    ] {
        let get = start_generation(&demo, Some(&format!("words=2&rate={rate}")), b"");
        let refusal = get
            .err()
            .unwrap_or_else(|| panic!("GET rate {rate}: accepted"));
        assert_eq!(refusal.status(), StatusCode::BAD_REQUEST, "GET rate {rate}");
    }
    for rate in ["1e-20", "5e-324", "-1", "1e9", "1e308"] {
        let body = format!(r#"{{"words": 2, "rate": {rate}}}"#);
        let post = start_generation(&demo, None, body.as_bytes());
        let refusal = post
            .err()
            .unwrap_or_else(|| panic!("POST rate {rate}: accepted"));
        assert_eq!(
            refusal.status(),
            StatusCode::BAD_REQUEST,
            "POST rate {rate}"
        );
        assert!(body_json(&refusal)["error"].is_string());
    }
    assert_eq!(generate_stats(&demo)["started"], 0);
    for rate in [MIN_RATE, 1.0, MAX_RATE] {
        let query = format!("words=2&rate={rate}");
        assert!(
            start_generation(&demo, Some(&query), b"").is_ok(),
            "rate {rate}"
        );
    }
    for words in ["-1", "18446744073709551616", "1000001", "x"] {
        let get = start_generation(&demo, Some(&format!("words={words}")), b"");
        assert_eq!(
            get.err().expect("refused").status(),
            StatusCode::BAD_REQUEST
        );
    }
}

#[test]
fn a_paused_producer_stops_as_soon_as_its_client_leaves() {
    let demo = demo(&[]);
    // One word every 1 000 s, and a sleep that never ends: only the client's
    // leaving can end the pause.
    let (stream, task) = start_generation(&demo, Some("words=10&rate=0.001"), b"").unwrap();
    let mut task = task;
    assert!(futures_lite::future::block_on(futures_lite::future::poll_once(&mut task)).is_none());
    assert_eq!(generate_stats(&demo)["active"], 1);
    drop(stream);
    futures_lite::future::block_on(task);
    let stats = generate_stats(&demo);
    assert_eq!(
        (stats["active"].clone(), stats["cancelled"].clone()),
        (json!(0), json!(1))
    );
}

#[test]
fn generations_beyond_the_limit_are_503_with_retry_after() {
    let demo = demo(&["--max-generations", "2"]);
    let first = start_generation(&demo, None, br#"{"rate": 1}"#).unwrap();
    let _second = start_generation(&demo, None, br#"{"rate": 1}"#).unwrap();
    let refusal = start_generation(&demo, None, br#"{"rate": 1}"#)
        .err()
        .expect("refused");
    let response = refusal;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    assert!(body_json(&response)["error"].is_string());
    let stats = generate_stats(&demo);
    assert_eq!(
        (stats["active"].clone(), stats["refused"].clone()),
        (json!(2), json!(1))
    );
    // A producer whose task is dropped unfinished gives its place back.
    drop(first);
    assert_eq!(generate_stats(&demo)["active"], 1);
    assert!(start_generation(&demo, None, br#"{"rate": 1}"#).is_ok());
}

/// Every number a request carries is range-checked before use: whatever the
/// query or JSON says, the answer is a stream or a JSON 4xx, never a panic, and a
/// generation starts only within the bounds.
mod any_request {
    use proptest::prelude::*;

    use super::*;

    /// Query values as a client may write them, numbers or not.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| format!("{n}0")),
            "[-+0-9.eEnaif]{0,12}",
            Just("NaN".to_owned()),
            Just("1e-20".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn a_generate_query(words in value(), rate in value(), extra in "[a-z=&]{0,8}") {
            let demo = demo(&[]);
            let query = format!("words={words}&rate={rate}&{extra}");
            match start_generation(&demo, Some(&query), b"") {
                Ok(_) => {
                    let words: u64 = words.parse().expect("accepted words are a number");
                    let rate: f64 = rate.parse().expect("accepted rates are a number");
                    prop_assert!(words <= MAX_WORDS);
                    prop_assert!(rate == 0.0 || (MIN_RATE..=MAX_RATE).contains(&rate));
                }
                Err(refusal) => {
                    prop_assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
                    prop_assert!(body_json(&refusal)["error"].is_string());
                }
            }
        }

        #[test]
        fn a_generate_body(
            words in any::<u64>(),
            rate in any::<f64>().prop_filter("JSON has no NaN or infinity", |r| r.is_finite()),
            fail_after in proptest::option::of(any::<u64>()),
        ) {
            let demo = demo(&[]);
            let body = json!({"words": words, "rate": rate, "fail_after": fail_after});
            let valid = words <= MAX_WORDS && (rate == 0.0 || (MIN_RATE..=MAX_RATE).contains(&rate));
            let request = generate_request(None);
            let answer = futures_lite::future::block_on(demo.generate(
                &request,
                body.to_string().as_bytes(),
                drop,
                |_| std::future::pending::<()>(),
            ));
            prop_assert_eq!(matches!(answer, Answer::Stream(..)), valid, "{}", body);
        }

        #[test]
        fn a_publish_body(
            id in proptest::option::of("[a-z0-9\r\n]{0,3}"),
            retry in proptest::option::of(any::<u64>()),
            event in proptest::option::of("[a-z\r\n]{0,3}"),
        ) {
            let hub = Hub::default();
            let body = json!({"data": "x", "id": id, "retry": retry, "event": event});
            let response = publish(&hub, body.to_string().as_bytes());
            let bad = |text: &Option<String>| text.as_ref().is_some_and(|t| t.contains(['\r', '\n']));
            let valid = id.as_deref() != Some("")
                && !bad(&id)
                && !bad(&event)
                && retry.is_none_or(|retry| retry <= MAX_RETRY_MS);
            let published = hub.metrics().published;
            if valid {
                prop_assert_eq!(response.status(), StatusCode::ACCEPTED);
                prop_assert_eq!(published, 1);
            } else {
                prop_assert_eq!(response.status(), StatusCode::BAD_REQUEST);
                prop_assert_eq!(published, 0, "nothing sent");
            }
        }
    }
}
