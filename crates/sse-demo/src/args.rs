//! The demo servers' command-line flags.

use std::net::SocketAddr;
use std::time::Duration;

use sse_core::{HubConfig, LagPolicy, ResumeConfig};
use sse_net::{ConnectionLimits, Timeouts};

/// How long the demo keeps generating a resumable reply no one watches.
const ABANDON_AFTER: Duration = Duration::from_secs(60);

/// The flags, as `--help` prints them.
pub const USAGE: &str = "\
Serves the SSE demo: a page at /, the stream at /events, POST /publish, GET /stats.

Options:
  --addr ADDR                   listen address [default: 127.0.0.1:8080]
  --history N                   events kept for replay, per log [default: 1024]
  --max-lag N                   how far a client may fall behind [default: 256]
  --keep-alive SECS             keep-alive comment interval, 0 for none [default: 15]
  --policy disconnect|drop-oldest
                                what to do with a client behind by more than max-lag
  --max-clients N               refuse more clients with 503 [default: no limit]
  --retry MS                    reconnection delay hint sent to every client
  --head-timeout SECS           close a connection whose request head takes longer
                                (or idles between requests) [default: 10]
  --body-timeout SECS           ... whose request body takes longer [default: 30]
  --idle-timeout SECS           ... that moves no byte for that long [default: 60]
  --write-stall SECS            ... that takes no byte of its stream for that long,
                                or leaves what it got unread that long (a client
                                that stopped reading) [default: 30]
  --max-connections-per-peer N  close connections from an address that has N open,
                                0 for no limit [default: 256, at most a quarter
                                of the default --max-connections]
  --max-connections N           accept no more while N are open, 0 for no limit
                                [default: what the open-file limit holds, less
                                a quarter of it, at most 64]
  --threads N                   threads serving connections, each a runtime (an
                                executor on smol) of its own [default: 0, none:
                                the main runtime, smol's global executor]
  --trust-client-id             take the client id a request asks for (sse-clientid
                                header, client=) instead of issuing one: only
                                behind something trusted that sets it
  --redis URL                   publish and relay through a Redis stream, so that
                                several demo processes serve one stream of events
                                (e.g. redis://127.0.0.1:6379/)
  --linger SECS                 how long a resumable reply is kept after it ends,
                                for late resumers [default: 300]
  --abandon SECS                cancel a resumable reply no one has watched for
                                that long, 0 for never [default: 60]
  --max-generations N           replies /generate makes at once; more are refused
                                with 503 [default: 1000]
  -h, --help                    print this";

/// What the flags say.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DemoArgs {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The hub's settings.
    pub config: HubConfig,
    /// The Redis server to relay through (`--redis`), if any.
    pub redis: Option<String>,
    /// The resumable replies' settings (`--linger`, `--abandon`).
    pub replies: ResumeConfig,
    /// How long a connection may take at each step (`--head-timeout`,
    /// `--body-timeout`, `--idle-timeout`, `--write-stall`): the hyper, axum and warp
    /// demos serve with them as they are, the smol demo takes the head, body and
    /// write-stall ones.
    pub timeouts: Timeouts,
    /// How many replies `/generate` makes at once (`--max-generations`).
    pub max_generations: usize,
    /// How many connections may be open from one address and in all
    /// (`--max-connections-per-peer`, `--max-connections`): every demo serves with
    /// them.
    pub connections: ConnectionLimits,
    /// How many threads serve connections (`--threads`; see
    /// `sse_hyper::Server::threads`, `sse_smol::Server::threads`).
    pub threads: usize,
}

/// Connections one address may have open by default: more than a browser or a
/// small office behind one address opens, and at most a quarter of the total, so
/// that one address never takes every place.
const MAX_CONNECTIONS_PER_PEER: usize = 256;

/// What the open-file limit holds in all, and per address the lesser of
/// [`MAX_CONNECTIONS_PER_PEER`] and a quarter of that.
fn default_connection_limits() -> ConnectionLimits {
    let total = sse_net::connections_within_file_limit();
    let per_peer = total.map_or(MAX_CONNECTIONS_PER_PEER, |total| {
        MAX_CONNECTIONS_PER_PEER.min(total / 4).max(1)
    });
    ConnectionLimits::default().per_peer(per_peer).total(total)
}

impl DemoArgs {
    /// Reads the process's arguments; prints the usage and exits on `--help` or an
    /// invalid flag (status 0 or 2).
    #[must_use]
    pub fn from_env() -> Self {
        match DemoArgs::parse(std::env::args().skip(1)) {
            Ok(Some(args)) => args,
            Ok(None) => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Err(message) => {
                eprintln!("error: {message}\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    }

    /// Parses flags; `Ok(None)` for `--help`.
    ///
    /// # Errors
    ///
    /// A message naming the flag that is unknown, lacks a value, or has an invalid one.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut parsed = DemoArgs {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            // The page learns the id the hub issued from this event.
            config: HubConfig::default().client_id_event(Some("client-id".into())),
            redis: None,
            // A reply everyone left stops within a minute, so that replies
            // started and abandoned cannot hold every generation slot.
            replies: ResumeConfig::default().abandon_after(Some(ABANDON_AFTER)),
            timeouts: Timeouts::default(),
            max_generations: crate::MAX_GENERATIONS,
            connections: default_connection_limits(),
            threads: 0,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Ok(None);
            }
            if flag == "--trust-client-id" {
                parsed.config.trust_client_id = true;
                continue;
            }
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            let config = &mut parsed.config;
            match flag.as_str() {
                "--addr" => parsed.addr = parse(&flag, &value()?)?,
                "--history" => config.history = parse(&flag, &value()?)?,
                "--max-lag" => config.max_lag = parse(&flag, &value()?)?,
                "--keep-alive" => {
                    let seconds: u64 = parse(&flag, &value()?)?;
                    config.keep_alive = (seconds > 0).then(|| Duration::from_secs(seconds));
                }
                "--policy" => {
                    config.lag_policy = match value()?.as_str() {
                        "disconnect" => LagPolicy::Disconnect,
                        "drop-oldest" => LagPolicy::DropOldest,
                        other => return Err(format!("--policy: unknown policy {other:?}")),
                    };
                }
                "--max-clients" => config.max_clients = Some(parse(&flag, &value()?)?),
                "--retry" => {
                    config.retry = Some(Duration::from_millis(parse(&flag, &value()?)?));
                }
                "--redis" => parsed.redis = Some(value()?),
                "--linger" => parsed.replies.linger = seconds(&flag, &value()?)?,
                "--abandon" => {
                    let seconds: u64 = parse(&flag, &value()?)?;
                    parsed.replies.abandon_after =
                        (seconds > 0).then(|| Duration::from_secs(seconds));
                }
                "--head-timeout" => parsed.timeouts.head = seconds(&flag, &value()?)?,
                "--body-timeout" => parsed.timeouts.body = seconds(&flag, &value()?)?,
                "--idle-timeout" => parsed.timeouts.idle = seconds(&flag, &value()?)?,
                "--write-stall" => parsed.timeouts.write_stall = seconds(&flag, &value()?)?,
                "--max-generations" => parsed.max_generations = parse(&flag, &value()?)?,
                "--max-connections-per-peer" => {
                    parsed.connections.per_peer = limit(&flag, &value()?)?;
                }
                "--max-connections" => parsed.connections.total = limit(&flag, &value()?)?,
                "--threads" => parsed.threads = parse(&flag, &value()?)?,
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        Ok(Some(parsed))
    }
}

/// Whole seconds, at least 1.
fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    match parse::<u64>(flag, value)? {
        0 => Err(format!("{flag}: at least 1 second")),
        seconds => Ok(Duration::from_secs(seconds)),
    }
}

/// A number of connections; 0 for no limit.
fn limit(flag: &str, value: &str) -> Result<Option<usize>, String> {
    Ok(Some(parse::<usize>(flag, value)?).filter(|&limit| limit > 0))
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: invalid value {value:?}"))
}
