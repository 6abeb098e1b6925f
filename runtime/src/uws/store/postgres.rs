//! The PostgreSQL store, which several replicas share: any replica answers for any job, each
//! queued job is claimed by one (`FOR UPDATE SKIP LOCKED`), leases say which replica executes a
//! job, and every phase change is announced to the others with `NOTIFY`, which each replica
//! hears on a connection of its own (`LISTEN`). Calls go through a pool of connections.
//!
//! The tables are `uws_jobs` and `uws_schema` in the connection's schema (`search_path`); the
//! schema is created or migrated at start, under an advisory lock so that replicas starting
//! together migrate once, and a database migrated by a newer server is refused.

use super::{Charge, Decision, Edit, Edited, Inserted, JobStore, Notice, Quota, StoreError, StoreFuture, charged, decode, encode, notice_payload, owner_key, parse_notice, phase_counts, recovered, starts_counting};
use crate::uws::{Job, JobError, Phase};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;

/// The channel phase changes are announced on.
const CHANNEL: &str = "ivoagen_uws";

/// The advisory lock key of migrations (any constant that other applications are unlikely to
/// use: "ivoa" in ASCII).
const MIGRATION_LOCK: i64 = 0x6976_6f61;

/// The first key of the advisory locks (the two-key form, whose keys never meet the one-key
/// form's of owners and migrations) under which an account's jobs are queued, one account at a
/// time: "acct" in ASCII. The second key is a hash of the account.
const ACCOUNT_LOCK: i32 = 0x6163_6374;

/// The schema, one migration a version: never edit one that was released, add the next.
const MIGRATIONS: &[&str] = &[
    // 1: jobs, as a JSON record plus the columns queries look at. `owner_key` is '' for an
    // anonymous job and '@' and the name otherwise; instants are microseconds since the epoch;
    // `holder` and `lease_until` say which replica executes the job, and until when.
    "CREATE TABLE uws_jobs (
         seq bigserial PRIMARY KEY,
         id text NOT NULL UNIQUE,
         owner text,
         owner_key text NOT NULL,
         phase text NOT NULL,
         record text NOT NULL,
         created bigint NOT NULL,
         destruction bigint,
         holder text,
         lease_until timestamptz
     );
     CREATE INDEX uws_jobs_by_owner ON uws_jobs (owner_key, seq);
     CREATE INDEX uws_jobs_by_destruction ON uws_jobs (destruction);
     CREATE INDEX uws_jobs_queued ON uws_jobs (seq) WHERE phase = 'QUEUED';
     CREATE INDEX uws_jobs_leases ON uws_jobs (lease_until) WHERE phase = 'EXECUTING';",
    // 2: the account a job was last queued by (`--uws-max-active`: an identity's owner key, or
    // '#' and an anonymous client's address), counted among queued and executing jobs only.
    // Jobs queued before have none, and count against nobody.
    "ALTER TABLE uws_jobs ADD COLUMN account text;
     CREATE INDEX uws_jobs_active_by_account ON uws_jobs (account) WHERE phase IN ('QUEUED', 'EXECUTING');",
];

/// Connections in a replica's pool.
const POOL_SIZE: usize = 16;

/// How long a call waits for a connection, or to connect, before the store counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared store.
pub struct PostgresStore {
    pool: Pool,
    notices: broadcast::Sender<Notice>,
}

fn failed(e: tokio_postgres::Error) -> StoreError {
    // Connection failures, and the server shutting down or out of connections (SQLSTATE
    // classes 08, 57 and 53), are the store being unreachable; any other error is an answer.
    let class = e.code().map(|c| &c.code()[..2]);
    let message = match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}")),
    };
    if e.as_db_error().is_none() || e.is_closed() || matches!(class, Some("08" | "57" | "53")) {
        StoreError::unavailable(message)
    } else {
        StoreError::new(message)
    }
}

fn pool_failed(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => failed(e),
        other => StoreError::unavailable(other.to_string()),
    }
}

fn lease_seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgresql://user:password@host:port/database`, with
    /// libpq's parameters; `postgres://` too), creates or migrates the schema, and starts
    /// listening for other replicas' changes. Needs a Tokio runtime.
    #[cfg_attr(not(feature = "postgres-tls"), allow(clippy::clone_on_copy))]
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let (mut config, tls) = configure(url).map_err(|e| StoreError::new(format!("`{}`: {e}", redacted(url))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("ivoagen");
        }
        let manager = Manager::from_config(config.clone(), tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::new(e.to_string()))?;
        migrate(&pool).await?;
        let (notices, _) = broadcast::channel(4096);
        let mut listening = config;
        listening.application_name("ivoagen-listen");
        let first = listen_once(&listening, &tls).await?;
        tokio::spawn(listen(listening, tls, first, notices.clone()));
        Ok(PostgresStore { pool, notices })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_failed)
    }

    /// The edit of [`JobStore::edit`] and [`JobStore::queue`], in one transaction: the job's row
    /// locked, and with a limited `charge`, first the account's queuings (so that the count of
    /// its active jobs is still true when the job is written, whichever replica queues).
    async fn change(&self, id: &str, holder: Option<&str>, charge: Option<Charge<'_>>, edit: Edit) -> Result<Edited, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(failed)?;
        if let Some(charge) = charge.filter(|c| c.limit > 0) {
            lock_account(&transaction, charge.account).await?;
        }
        let select = transaction.prepare_cached("SELECT record, holder FROM uws_jobs WHERE id = $1 FOR UPDATE").await.map_err(failed)?;
        let Some(row) = transaction.query_opt(&select, &[&id]).await.map_err(failed)? else {
            return Ok(Edited::Missing);
        };
        let mut job = decode(row.get::<_, &str>(0))?;
        let held_by: Option<&str> = row.get(1);
        if holder.is_some() && (job.phase != Phase::Executing || held_by != holder) {
            return Ok(Edited::Kept(job));
        }
        let before = job.phase;
        let edited = match edit(&mut job) {
            Decision::Write => {
                let charged_to = charge.filter(|_| starts_counting(before, job.phase));
                if let Some(charge) = charged_to
                    && !room(&transaction, charge.account, charge.limit).await?
                {
                    return Ok(Edited::TooManyActive);
                }
                write(&transaction, &job, before, charged_to.map(|c| c.account)).await?;
                Edited::Written(job)
            }
            Decision::Keep => Edited::Kept(job),
            Decision::Refuse(why) => Edited::Refused(why),
        };
        transaction.commit().await.map_err(failed)?;
        Ok(edited)
    }
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Creates or migrates the schema, once however many replicas start at once.
async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(pool_failed)?;
    let transaction = client.transaction().await.map_err(failed)?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(failed)?;
    transaction.batch_execute("CREATE TABLE IF NOT EXISTS uws_schema (version integer NOT NULL)").await.map_err(failed)?;
    let version: i32 = transaction.query_one("SELECT coalesce(max(version), 0) FROM uws_schema", &[]).await.map_err(failed)?.get(0);
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if version > known {
        return Err(StoreError::new(format!("the database's schema is version {version}, newer than this server's ({known}): run a newer server")));
    }
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        transaction.batch_execute(migration).await.map_err(failed)?;
        let number = i32::try_from(number + 1).unwrap_or(i32::MAX);
        transaction.execute("INSERT INTO uws_schema (version) VALUES ($1)", &[&number]).await.map_err(failed)?;
    }
    transaction.commit().await.map_err(failed)
}

/// How connections to the database are made: with TLS as the URL's `sslmode` says (see
/// `postgres_tls`), or, built without the `postgres-tls` feature, never.
#[cfg(feature = "postgres-tls")]
type Tls = super::postgres_tls::Connector;
#[cfg(not(feature = "postgres-tls"))]
type Tls = tokio_postgres::NoTls;

/// The connection settings of `url`, and how its connections are encrypted.
fn configure(url: &str) -> Result<(tokio_postgres::Config, Tls), String> {
    #[cfg(feature = "postgres-tls")]
    {
        let (url, mode, tls) = super::postgres_tls::split(url)?;
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| e.to_string())?;
        if let Some(mode) = mode {
            config.ssl_mode(mode);
        }
        // A `hostaddr` without `host`: the address is the name a certificate is checked against
        // (tokio-postgres would have none, and refuse TLS).
        if config.get_hosts().is_empty() {
            for address in config.get_hostaddrs().to_vec() {
                config.host(address.to_string());
            }
        }
        Ok((config, tls))
    }
    #[cfg(not(feature = "postgres-tls"))]
    {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| e.to_string())?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err("sslmode=require needs TLS, which this server was built without (the runtime's `postgres-tls` feature)".into());
        }
        // `prefer` (the default) goes without it.
        Ok((config, tokio_postgres::NoTls))
    }
}

/// A connection listening on [`CHANNEL`], and the receiver of its notifications' payloads; the
/// connection is driven by a task of its own, whose end closes the receiver.
#[cfg_attr(not(feature = "postgres-tls"), allow(clippy::clone_on_copy))]
async fn listen_once(config: &tokio_postgres::Config, tls: &Tls) -> Result<(tokio_postgres::Client, tokio::sync::mpsc::UnboundedReceiver<String>), StoreError> {
    let (client, mut connection) = config.connect(tls.clone()).await.map_err(failed)?;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if sender.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await.map_err(failed)?;
    Ok((client, receiver))
}

/// Forwards notifications as [`Notice`]s for as long as anyone may subscribe; when the listening
/// connection drops, says so ([`Notice::Lost`]) and reconnects, with a growing pause (at most
/// 2 s), saying [`Notice::Resumed`] once it listens again.
async fn listen(config: tokio_postgres::Config, tls: Tls, first: (tokio_postgres::Client, tokio::sync::mpsc::UnboundedReceiver<String>), notices: broadcast::Sender<Notice>) {
    let mut current = Some(first);
    let mut pause = Duration::from_millis(50);
    loop {
        if let Some((_client, mut payloads)) = current.take() {
            while let Some(payload) = payloads.recv().await {
                if let Some(notice) = parse_notice(&payload) {
                    let _ = notices.send(notice);
                }
            }
            let _ = notices.send(Notice::Lost);
            pause = Duration::from_millis(50);
        }
        tokio::time::sleep(pause).await;
        match listen_once(&config, &tls).await {
            Ok(listening) => {
                current = Some(listening);
                let _ = notices.send(Notice::Resumed);
            }
            Err(_) => pause = (pause * 2).min(Duration::from_secs(2)),
        }
    }
}

/// Writes `job` over its row, charged to `account` if given (else to whom it was; an executing
/// job keeps its lease, any other has none) and, when its phase changed, tells the other
/// replicas at commit.
async fn write(client: &impl GenericClient, job: &Job, before: Phase, account: Option<&str>) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE uws_jobs SET owner = $2, owner_key = $3, phase = $4, record = $5, destruction = $6,
                 holder = CASE WHEN $4 = 'EXECUTING' THEN holder END,
                 lease_until = CASE WHEN $4 = 'EXECUTING' THEN lease_until END,
                 account = coalesce($7, account)
             WHERE id = $1",
        )
        .await
        .map_err(failed)?;
    let key = owner_key(job.owner.as_deref());
    client
        .execute(&statement, &[&job.id, &job.owner, &key, &job.phase.as_str(), &encode(job), &job.destruction.map(micros), &account])
        .await
        .map_err(failed)?;
    if job.phase != before {
        notify(client, &job.id, job.phase).await?;
    }
    Ok(())
}

async fn notify(client: &impl GenericClient, id: &str, phase: Phase) -> Result<(), StoreError> {
    let statement = client.prepare_cached("SELECT pg_notify($1, $2)").await.map_err(failed)?;
    client.execute(&statement, &[&CHANNEL, &notice_payload(id, phase)]).await.map(drop).map_err(failed)
}

/// Makes the transaction of `client` the only one queueing jobs of `account` until it ends, on
/// every replica: what it counts of the account's active jobs stays true until it commits.
async fn lock_account(client: &impl GenericClient, account: &str) -> Result<(), StoreError> {
    let statement = client.prepare_cached("SELECT pg_advisory_xact_lock($1, hashtext($2))").await.map_err(failed)?;
    client.execute(&statement, &[&ACCOUNT_LOCK, &account]).await.map(drop).map_err(failed)
}

/// Whether `account` may have one more job queued or executing under `limit` (0: no limit);
/// counted in `uws_jobs_active_by_account`, whose condition the query repeats.
async fn room(client: &impl GenericClient, account: &str, limit: usize) -> Result<bool, StoreError> {
    if limit == 0 {
        return Ok(true);
    }
    let statement = client.prepare_cached("SELECT count(*) FROM uws_jobs WHERE account = $1 AND phase IN ('QUEUED', 'EXECUTING')").await.map_err(failed)?;
    let n: i64 = client.query_one(&statement, &[&account]).await.map_err(failed)?.get(0);
    Ok(usize::try_from(n).unwrap_or(usize::MAX) < limit)
}

fn records(rows: &[tokio_postgres::Row]) -> Result<Vec<Job>, StoreError> {
    rows.iter().map(|r| decode(r.get::<_, &str>(0))).collect()
}

impl JobStore for PostgresStore {
    fn insert(&self, job: &Job, quota: Quota<'_>) -> StoreFuture<'_, Inserted> {
        let job = job.clone();
        let (jobs, charge) = (quota.jobs, quota.charge.map(|c| (c.account.to_owned(), c.limit)));
        Box::pin(async move {
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(failed)?;
            let key = owner_key(job.owner.as_deref());
            if jobs > 0 {
                // Creations of one owner take turns (a lock on the owner, until commit), so that
                // the count each reads is still true when it adds its job.
                transaction.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key]).await.map_err(failed)?;
                let count = transaction.prepare_cached("SELECT count(*) FROM uws_jobs WHERE owner_key = $1").await.map_err(failed)?;
                let n: i64 = transaction.query_one(&count, &[&key]).await.map_err(failed)?.get(0);
                if usize::try_from(n).unwrap_or(usize::MAX) >= jobs {
                    return Ok(Inserted::TooManyJobs);
                }
            }
            if let Some((account, limit)) = &charge
                && *limit > 0
                && charged(job.phase)
            {
                // Then the account's queuings take turns, as in `queue` (always the owner's lock
                // first, the account's second: no two transactions wait for each other).
                lock_account(&transaction, account).await?;
                if !room(&transaction, account, *limit).await? {
                    return Ok(Inserted::TooManyActive);
                }
            }
            let insert = transaction
                .prepare_cached("INSERT INTO uws_jobs (id, owner, owner_key, phase, record, created, destruction, account) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .await
                .map_err(failed)?;
            let account = charge.as_ref().map(|(account, _)| account.as_str());
            transaction
                .execute(&insert, &[&job.id, &job.owner, &key, &job.phase.as_str(), &encode(&job), &micros(job.creation_time), &job.destruction.map(micros), &account])
                .await
                .map_err(failed)?;
            if job.phase == Phase::Queued {
                notify(&transaction, &job.id, job.phase).await?;
            }
            transaction.commit().await.map_err(failed)?;
            Ok(Inserted::Added)
        })
    }

    fn get(&self, id: &str) -> StoreFuture<'_, Option<Job>> {
        let id = id.to_owned();
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client.prepare_cached("SELECT record FROM uws_jobs WHERE id = $1").await.map_err(failed)?;
            let row = client.query_opt(&statement, &[&id]).await.map_err(failed)?;
            row.map(|r| decode(r.get::<_, &str>(0))).transpose()
        })
    }

    fn edit(&self, id: &str, holder: Option<&str>, edit: Edit) -> StoreFuture<'_, Edited> {
        let (id, holder) = (id.to_owned(), holder.map(str::to_owned));
        Box::pin(async move { self.change(&id, holder.as_deref(), None, edit).await })
    }

    fn queue(&self, id: &str, charge: Charge<'_>, edit: Edit) -> StoreFuture<'_, Edited> {
        let (id, account, limit) = (id.to_owned(), charge.account.to_owned(), charge.limit);
        Box::pin(async move { self.change(&id, None, Some(Charge { account: &account, limit }), edit).await })
    }

    fn delete(&self, id: &str) -> StoreFuture<'_, bool> {
        let id = id.to_owned();
        Box::pin(async move {
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(failed)?;
            let deleted = transaction.execute("DELETE FROM uws_jobs WHERE id = $1", &[&id]).await.map_err(failed)? > 0;
            if deleted {
                notify(&transaction, &id, Phase::Unknown).await?;
            }
            transaction.commit().await.map_err(failed)?;
            Ok(deleted)
        })
    }

    fn list<'a>(&'a self, owner: Option<&'a str>, phases: &'a [Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> StoreFuture<'a, Vec<Job>> {
        Box::pin(async move {
            let key = owner_key(owner);
            let mut sql = String::from("SELECT record FROM uws_jobs WHERE owner_key = $1");
            if phases.is_empty() {
                sql.push_str(" AND phase <> 'ARCHIVED'");
            } else {
                let marks: Vec<&str> = phases.iter().map(|p| p.as_str()).collect();
                // Phase words are a closed set of upper-case ASCII: safe to inline.
                sql.push_str(&format!(" AND phase IN ('{}')", marks.join("','")));
            }
            let after = after.map(micros);
            let limit = last.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
            let mut values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&key];
            if let Some(after) = &after {
                values.push(after);
                sql.push_str(&format!(" AND created > ${}", values.len()));
            }
            match &limit {
                Some(n) => {
                    values.push(n);
                    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", values.len()));
                }
                None => sql.push_str(" ORDER BY seq"),
            }
            let client = self.client().await?;
            let statement = client.prepare_cached(&sql).await.map_err(failed)?;
            records(&client.query(&statement, &values).await.map_err(failed)?)
        })
    }

    fn count<'a>(&'a self, owner: Option<&'a str>) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            let client = self.client().await?;
            let n: i64 = client.query_one("SELECT count(*) FROM uws_jobs WHERE owner_key = $1", &[&owner_key(owner)]).await.map_err(failed)?.get(0);
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    fn reap(&self, now: DateTime<Utc>) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let mut ids = Vec::new();
            // A thousand at a time, each batch one transaction; rows another replica is
            // deleting are skipped, not waited for (it returns them).
            loop {
                let transaction = client.transaction().await.map_err(failed)?;
                let rows = transaction
                    .query(
                        "DELETE FROM uws_jobs WHERE seq IN (SELECT seq FROM uws_jobs WHERE destruction <= $1 FOR UPDATE SKIP LOCKED LIMIT 1000) RETURNING id",
                        &[&micros(now)],
                    )
                    .await
                    .map_err(failed)?;
                for row in &rows {
                    notify(&transaction, row.get(0), Phase::Unknown).await?;
                }
                transaction.commit().await.map_err(failed)?;
                let done = rows.len() < 1000;
                ids.extend(rows.iter().map(|r| r.get::<_, String>(0)));
                if done {
                    return Ok(ids);
                }
            }
        })
    }

    fn claim<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Option<Job>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(failed)?;
            let select = transaction
                .prepare_cached("SELECT record FROM uws_jobs WHERE phase = 'QUEUED' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED")
                .await
                .map_err(failed)?;
            let Some(row) = transaction.query_opt(&select, &[]).await.map_err(failed)? else {
                return Ok(None);
            };
            let mut job = decode(row.get::<_, &str>(0))?;
            job.phase = Phase::Executing;
            job.start_time = Some(Utc::now());
            let update = transaction
                .prepare_cached("UPDATE uws_jobs SET phase = 'EXECUTING', record = $2, holder = $3, lease_until = now() + make_interval(secs => $4) WHERE id = $1")
                .await
                .map_err(failed)?;
            transaction.execute(&update, &[&job.id, &encode(&job), &replica, &lease_seconds(lease)]).await.map_err(failed)?;
            notify(&transaction, &job.id, Phase::Executing).await?;
            transaction.commit().await.map_err(failed)?;
            Ok(Some(job))
        })
    }

    fn renew<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client
                .query(
                    "UPDATE uws_jobs SET lease_until = now() + make_interval(secs => $2) WHERE holder = $1 AND phase = 'EXECUTING' RETURNING id",
                    &[&replica, &lease_seconds(lease)],
                )
                .await
                .map_err(failed)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn recover<'a>(&'a self, requeue: bool, error: &'a JobError) -> StoreFuture<'a, Vec<Job>> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(failed)?;
            let rows = transaction
                .query("SELECT record FROM uws_jobs WHERE phase = 'EXECUTING' AND lease_until < now() ORDER BY seq LIMIT 1000 FOR UPDATE SKIP LOCKED", &[])
                .await
                .map_err(failed)?;
            let mut jobs = records(&rows)?;
            for job in &mut jobs {
                recovered(job, requeue, error);
                write(&transaction, job, Phase::Executing, None).await?;
            }
            transaction.commit().await.map_err(failed)?;
            Ok(jobs)
        })
    }

    fn counts(&self) -> StoreFuture<'_, Vec<(Phase, usize)>> {
        Box::pin(async move {
            let client = self.client().await?;
            let rows = client.query("SELECT phase, count(*) FROM uws_jobs GROUP BY phase", &[]).await.map_err(failed)?;
            Ok(phase_counts(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))))
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await.map(drop).map_err(failed)
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        Some(self.notices.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redacted("postgresql://uws:secret@db:5432/jobs"), "postgresql://uws:***@db:5432/jobs");
        assert_eq!(redacted("postgresql://uws@db/jobs"), "postgresql://uws@db/jobs");
        assert_eq!(redacted("host=db"), "host=db");
    }

    #[test]
    fn migrations_are_numbered_from_one() {
        assert!(!MIGRATIONS.is_empty() && MIGRATIONS[0].contains("CREATE TABLE uws_jobs"));
        assert!(MIGRATIONS[1].contains("ADD COLUMN account"), "accounts came second");
    }
}
