//! End-to-end tests: every adapter's demo server (the demo contract in `crates/sse-demo`), in
//! its own process on `127.0.0.1:0`, driven by real HTTP clients over loopback
//! (HTTP/1.1, and HTTP/2 with prior knowledge where the adapter speaks it), its
//! streams decoded by `sse_core::EventStream`.
//!
//! `cargo test --test e2e`; one adapter: `cargo test --test e2e axum::`; one case
//! everywhere: `cargo test --test e2e graceful_shutdown`.
//!
//! Each case in [`cases`] is an `async fn(Adapter)`; [`adapter_tests!`] makes one
//! `#[test]` of each case for each adapter (`hyper::response_head`, ...). The demo
//! binaries are targets of this package (see the root `Cargo.toml`), so cargo builds
//! them before this test. A new adapter takes a `[[bin]]` for its demo there, an arm in
//! `sse_testkit::adapter!` and one line in the `adapter_tests!` call at the end of
//! this file. The demo processes and
//! the clients are `sse-testkit`'s: every wait is bounded (see
//! [`sse_testkit::TIMEOUT`]) and every server process is killed when its guard
//! drops, so a failing test neither hangs nor leaves a process behind.

mod cases;
mod generate;
mod redis;
mod resume;
mod security;
mod serving;
mod timeouts;

use sse_testkit::demo::{Adapter, run};

/// `adapter_tests!(name: Adapter { .. }, ...)`: a module per adapter with one test per
/// case. The case list is written once, here.
macro_rules! adapter_tests {
    (@cases $adapter:ident: $($(#[$attribute:meta])* $module:ident::$case:ident),* $(,)?) => {$(
        #[test]
        $(#[$attribute])*
        fn $case() {
            crate::run(crate::$module::$case($adapter));
        }
    )*};
    ($($name:ident: $adapter:expr),* $(,)?) => {$(
        mod $name {
            use crate::Adapter;
            const ADAPTER: Adapter = $adapter;
            adapter_tests!(@cases ADAPTER:
                cases::response_head,
                cases::events_arrive_in_order,
                cases::multi_line_and_unicode_data_intact,
                cases::named_event_own_id_and_retry,
                cases::targeted_send_reaches_only_that_client,
                cases::topics_reach_only_subscribers,
                cases::reconnect_with_last_event_id_replays_exactly_the_missed_events,
                cases::post_events_is_405_with_allow,
                cases::max_clients_answers_503_with_retry_after,
                cases::keep_alive_comment_on_idle_stream,
                cases::disconnected_client_is_removed_promptly_and_once,
                cases::slow_client_is_disconnected_and_others_get_everything,
                cases::slow_client_drops_oldest_and_others_get_everything,
                cases::slow_client_that_never_reads_is_handled_by_its_policy,
                cases::invalid_publish_is_rejected_and_sends_nothing,
                cases::graceful_shutdown_sends_shutdown_ends_streams_and_exits_0,
                cases::running_out_of_file_descriptors_pauses_accepting_only,
                cases::reconnect_to_a_restarted_server_with_an_old_id_gets_resync_not_a_skip,
                cases::dropped_before_any_event_resumes_from_its_position,
                security::too_many_topics_on_one_connection_is_400,
                security::a_topic_flood_is_held_to_max_topics_and_given_back,
                security::a_claimed_client_id_takes_nothing_over,
                security::a_post_that_is_not_json_is_415_and_does_nothing,
                timeouts::silent_and_half_sent_requests_are_closed,
                timeouts::a_stream_whose_client_stops_reading_is_closed,
                serving::a_stuck_reader_with_a_small_backlog_is_closed,
                serving::an_http2_connection_with_only_pings_is_closed,
                serving::a_connection_flood_from_one_address_leaves_room_for_others,
                generate::generate_streams_every_word_in_order,
                generate::generate_spaced_words_arrive_as_made,
                generate::generate_idle_stream_gets_keep_alive,
                generate::generate_stops_when_the_client_goes_away,
                generate::generate_head_gets_the_head_alone,
                generate::generate_failure_ends_the_response_cleanly,
                generate::generate_resumes_after_last_event_id,
                generate::generate_invalid_request_is_400,
                resume::resume_after_drops_at_random_points_gives_exactly_the_reply,
                resume::resume_two_viewers_each_get_the_whole_reply,
                resume::resume_a_viewer_leaving_never_stops_the_reply,
                resume::resume_cancel_stops_the_producer_and_every_viewer,
                resume::resume_expired_or_unknown_keys_answer_204,
                resume::resume_an_unwatched_reply_is_abandoned,
                generate::generate_a_tiny_rate_is_400_not_a_panic,
                generate::generate_paced_producers_stop_when_their_clients_leave,
                generate::generate_beyond_the_limit_is_503_with_retry_after,
            );
        }
    )*};
}

/// The demos that take `--redis`: the `redis` tests run one process of each.
pub(crate) const ADAPTERS: &[Adapter] = &[HYPER, AXUM, WARP, SMOL];

const HYPER: Adapter = sse_testkit::adapter!(hyper);
const AXUM: Adapter = sse_testkit::adapter!(axum);
const WARP: Adapter = sse_testkit::adapter!(warp);
const SMOL: Adapter = sse_testkit::adapter!(smol);
/// The hyper demo serving its connections on two threads of their own
/// (`sse_hyper::Server::threads`), every case again.
const HYPER_THREADS: Adapter = HYPER.with_flags(&["--threads", "2"]);
/// The smol demo serving its connections on two threads of their own
/// (`sse_smol::Server::threads`), every case again.
const SMOL_THREADS: Adapter = SMOL.with_flags(&["--threads", "2"]);

// One line per adapter.
adapter_tests! {
    hyper: crate::HYPER,
    axum: crate::AXUM,
    warp: crate::WARP,
    smol: crate::SMOL,
    hyper_threads: crate::HYPER_THREADS,
    smol_threads: crate::SMOL_THREADS,
}
