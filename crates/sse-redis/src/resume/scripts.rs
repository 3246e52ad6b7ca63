//! The Lua scripts that change a stream, each one atomic on the stream's slot,
//! and the connection that runs them.
//!
//! Every write checks the stream's newest entry first (`XREVRANGE key + - COUNT
//! 1`, O(1)), so that:
//! - nothing is appended after an end entry (a cancel on another process wins at
//!   once: the producer's next write learns it);
//! - nothing is appended to a stream that is gone or belongs to another producer
//!   (Redis restarted empty, the key expired, another process started the key
//!   again): the producer learns its stream is lost instead of writing into a void;
//! - a write that reached Redis but whose reply was lost is not written twice when
//!   the producer tries again: every data entry carries its producer's token and
//!   sequence number, and an entry whose number the stream already holds is
//!   answered as written.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, ServerErrorKind, Value};

use sse_core::EndReason;

use crate::entry::{StreamId, text};
use crate::observe::Error;

/// The field of a start entry: the producer's token.
pub(crate) const START_FIELD: &str = "s";
/// The field of a data entry holding its sequence number (1, 2, …).
pub(crate) const SEQUENCE_FIELD: &str = "n";
/// The field of an end entry: why it ended.
pub(crate) const END_FIELD: &str = "x";

/// Starts a stream: `KEYS[1]` the stream, `KEYS[2]` its `seen` key; `ARGV[1]`
/// the producer's token, `ARGV[2]` the live TTL in ms, `ARGV[3]` the abandon
/// delay in ms (`0`: none). Returns the start entry's id, or nil when the key
/// exists.
pub(crate) static START: Script = Script::new(
    r"
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[1], '*', 's', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
return id
",
);

/// The shared prelude: `owner` and `seq` of the newest entry, or an early return
/// when the stream is gone (`{'lost'}`) or ended (`{'ended', reason}`).
macro_rules! newest_entry {
    () => {
        r"
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not newest then return {'lost'} end
local fields = newest[2]
local owner, seq
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'x' then return {'ended', fields[i + 1]} end
  if name == 's' or name == 'p' then owner = fields[i + 1] end
  if name == 'n' then seq = tonumber(fields[i + 1]) end
end
"
    };
}

/// Appends messages: `KEYS[1]` the stream; `ARGV[1]` the producer's token,
/// `ARGV[2]` the `MINID` to trim to (empty: none), `ARGV[3]` the live TTL in ms,
/// then for each message its sequence number, its field (`e` or `c`) and its
/// value. Returns `{'ok', id, …}` with one id per message (empty when the stream
/// already held it), `{'ended', reason}` or `{'lost'}`.
pub(crate) static APPEND: Script = Script::new(concat!(
    newest_entry!(),
    r"
if owner ~= ARGV[1] then return {'lost'} end
local ids = {'ok'}
for i = 4, #ARGV, 3 do
  if seq and seq >= tonumber(ARGV[i]) then
    ids[#ids + 1] = ''
  elseif ARGV[2] == '' then
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', 'p', ARGV[1], 'n', ARGV[i], ARGV[i + 1], ARGV[i + 2])
  else
    ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MINID', ARGV[2], '*', 'p', ARGV[1], 'n', ARGV[i], ARGV[i + 1], ARGV[i + 2])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return ids
"
));

/// Ends a stream: `KEYS[1]` the stream; `ARGV[1]` the reason, `ARGV[2]` the
/// linger in ms, `ARGV[3]` the producer's token (empty: whoever produces it, for
/// a cancel), `ARGV[4]` the channel to announce it on (empty: none), `ARGV[5]`
/// the application's key, announced. Returns `{'ok', id}`, `{'ended', reason}`
/// (it had ended already) or `{'lost'}`.
pub(crate) static END: Script = Script::new(concat!(
    newest_entry!(),
    r"
if ARGV[3] ~= '' and owner ~= ARGV[3] then return {'lost'} end
local id = redis.call('XADD', KEYS[1], '*', 'x', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {'ok', id}
"
));

/// The producer's heartbeat: `KEYS[1]` the stream, `KEYS[2]` its `seen` key;
/// `ARGV[1]` the token, `ARGV[2]` the live TTL in ms, `ARGV[3]` `1` when
/// abandoning is on, `ARGV[4]` the linger in ms. Keeps a live stream alive; ends
/// it as `abandoned` when no viewer was seen. Returns `{'ok'}`,
/// `{'ended', reason}` or `{'lost'}`.
pub(crate) static TOUCH: Script = Script::new(concat!(
    newest_entry!(),
    r"
if owner ~= ARGV[1] then return {'lost'} end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('XADD', KEYS[1], '*', 'x', 'abandoned')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {'ended', 'abandoned'}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {'ok'}
"
));

/// What a script that writes answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Done; the new entries' ids, in order (`None`: written before).
    Ok(Vec<Option<StreamId>>),
    /// The stream had ended, for this reason.
    Ended(EndReason),
    /// The stream is gone, or another producer's.
    Lost,
}

impl Outcome {
    pub(crate) fn parse(reply: &Value) -> Result<Outcome, Error> {
        let unexpected = || Error::UnexpectedReply("a script's outcome");
        let Value::Array(parts) = reply else {
            return Err(unexpected());
        };
        let words: Option<Vec<&str>> = parts.iter().map(text).collect();
        match words.as_deref().ok_or_else(unexpected)? {
            ["ok", ids @ ..] => ids
                .iter()
                .map(|id| match *id {
                    "" => Ok(None),
                    id => id.parse().map(Some).map_err(|_| unexpected()),
                })
                .collect::<Result<_, _>>()
                .map(Outcome::Ok),
            ["ended", reason] => Ok(Outcome::Ended(reason.parse().unwrap_or(EndReason::Done))),
            ["lost"] => Ok(Outcome::Lost),
            _ => Err(unexpected()),
        }
    }
}

/// A script, run by its SHA once loaded (`EVALSHA`), loaded again when Redis
/// forgot it (a restart).
pub(crate) struct Script {
    text: &'static str,
    sha: Mutex<Option<String>>,
}

impl Script {
    const fn new(text: &'static str) -> Self {
        Script {
            text,
            sha: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<String> {
        self.sha
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn load(&self, connection: &mut MultiplexedConnection) -> Result<String, Error> {
        if let Some(sha) = self.cached() {
            return Ok(sha);
        }
        let reply: Value = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(self.text)
            .query_async(connection)
            .await?;
        let sha = text(&reply)
            .ok_or(Error::UnexpectedReply("a script's SHA"))?
            .to_owned();
        *self.sha.lock().unwrap_or_else(PoisonError::into_inner) = Some(sha.clone());
        Ok(sha)
    }

    fn forget(&self) {
        *self.sha.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Runs the script, loading it first if Redis does not have it (it restarted).
    pub(crate) async fn run(
        &self,
        commands: &Commands,
        keys: &[&str],
        args: Vec<Vec<u8>>,
    ) -> Result<Value, Error> {
        let mut connection = commands.connection().await?;
        for attempt in 0..2 {
            let sha = self
                .load(&mut connection)
                .await
                .inspect_err(|_| commands.forget())?;
            let mut command = redis::cmd("EVALSHA");
            command.arg(&sha).arg(keys.len()).arg(keys);
            for arg in &args {
                command.arg(&arg[..]);
            }
            match command.query_async(&mut connection).await {
                Ok(reply) => return Ok(reply),
                Err(error)
                    if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
                        && attempt == 0 =>
                {
                    self.forget();
                }
                Err(error) => {
                    if !matches!(error.kind(), ErrorKind::Server(_)) {
                        commands.forget();
                    }
                    return Err(error.into());
                }
            }
        }
        unreachable!("the second attempt returns")
    }
}

/// The connection for commands that do not block, shared by everything on this
/// process (it pipelines), connected again after a failure.
pub(crate) struct Commands {
    pub(crate) client: redis::Client,
    response_timeout: Duration,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl Commands {
    pub(crate) fn new(client: redis::Client, response_timeout: Duration) -> Self {
        Commands {
            client,
            response_timeout,
            connection: Mutex::new(None),
        }
    }

    /// A connection's settings: replies may take `extra` longer than usual.
    pub(crate) fn config(&self, extra: Duration) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.response_timeout))
            .set_response_timeout(Some(self.response_timeout + extra))
    }

    pub(crate) async fn connection(&self) -> Result<MultiplexedConnection, Error> {
        let cached = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(connection) = cached {
            return Ok(connection);
        }
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config(Duration::ZERO))
            .await?;
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(connection.clone());
        Ok(connection)
    }

    /// Runs one command; a failure drops the connection, so the next command
    /// connects afresh.
    pub(crate) async fn query(&self, command: &redis::Cmd) -> Result<Value, Error> {
        let mut connection = self.connection().await?;
        command.query_async(&mut connection).await.map_err(|error| {
            if !matches!(error.kind(), ErrorKind::Server(_)) {
                self.forget();
            }
            Error::Redis(error)
        })
    }

    pub(crate) fn forget(&self) {
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}
