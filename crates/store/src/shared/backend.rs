//! The backend's public face, over the functions above.

use super::*;

impl super::super::Backend {
    pub(crate) async fn process_inbox<F>(
        &self,
        limit: i64,
        parse: &F,
        opts: &ApplyOptions,
    ) -> Result<usize>
    where
        F: Fn(&InboxRow) -> std::result::Result<Command, String>,
    {
        let mut tx = self.begin_write().await?;
        let handled = process_inbox(&mut tx, limit, parse, opts).await?;
        tx.commit().await?;
        Ok(handled)
    }

    pub(crate) async fn ingest_and_apply(
        &self,
        delivery: &Delivery,
        command: &Command,
        opts: &ApplyOptions,
    ) -> Result<(Accepted, Applied)> {
        match self.try_ingest_and_apply(delivery, command, opts).await {
            // Two requests creating the same order (or retrying one idempotency key) at
            // once on PostgreSQL: the loser sees the winner's row on a second try.
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                self.try_ingest_and_apply(delivery, command, opts).await
            }
            other => other,
        }
    }

    async fn try_ingest_and_apply(
        &self,
        delivery: &Delivery,
        command: &Command,
        opts: &ApplyOptions,
    ) -> Result<(Accepted, Applied)> {
        let mut tx = self.begin_write().await?;
        let done = ingest_in(&mut tx, delivery, command, opts).await?;
        tx.commit().await?;
        Ok(done)
    }

    pub(crate) async fn ingest_and_apply_many(
        &self,
        requests: &[(Delivery, Command)],
        opts: &ApplyOptions,
    ) -> Result<Vec<Result<(Accepted, Applied)>>> {
        // A lone request needs no savepoint: its own transaction is rolled back on error.
        if let [(delivery, command)] = requests {
            return match self.ingest_and_apply(delivery, command, opts).await {
                Err(StoreError::Database(e)) if is_connection_error(&e) => {
                    Err(StoreError::Database(e))
                }
                result => Ok(vec![result]),
            };
        }
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(requests.len());
        for (delivery, command) in requests {
            let mut result = ingest_one_in_savepoint(&mut tx, delivery, command, opts).await;
            // Another node created the same order or key since this transaction began:
            // on a second try the savepoint sees the winner's row.
            if matches!(&result, Err(StoreError::Database(e)) if is_unique_violation(e)) {
                result = ingest_one_in_savepoint(&mut tx, delivery, command, opts).await;
            }
            if let Err(StoreError::Database(e)) = &result {
                if is_connection_error(e) {
                    return Err(result.unwrap_err());
                }
            }
            results.push(result);
        }
        tx.commit().await?;
        Ok(results)
    }

    pub(crate) async fn apply_batch(
        &self,
        commands: &[Command],
        opts: &ApplyOptions,
        progress: Option<(&str, i64)>,
    ) -> Result<Vec<Result<Applied>>> {
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(commands.len());
        for command in commands {
            let mut savepoint = tx.begin().await?;
            let result = apply_command(&mut savepoint, command, opts).await;
            match &result {
                Ok(_) => savepoint.commit().await?,
                Err(StoreError::Database(e)) if is_connection_error(e) => {
                    return Err(result.unwrap_err())
                }
                Err(_) => savepoint.rollback().await?,
            }
            results.push(result);
        }
        if let Some((file_key, rows_done)) = progress {
            set_import_rows_done(&mut tx, file_key, rows_done, opts.now).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    pub(crate) async fn import_rows_done(&self, file_key: &str) -> Result<i64> {
        import_rows_done(&mut *self.read.acquire().await?, file_key).await
    }

    pub(crate) async fn get_order(&self, id: i64) -> Result<OrderView> {
        get_order(&mut *self.read.acquire().await?, id).await
    }

    pub(crate) async fn order_id_by_ref(&self, order: &OrderRef) -> Result<Option<i64>> {
        order_id_by_ref(&mut *self.read.acquire().await?, order).await
    }

    pub(crate) async fn order_id_by_token(&self, token: &str) -> Result<Option<i64>> {
        order_id_by_token(&mut *self.read.acquire().await?, token).await
    }

    pub(crate) async fn get_customer(&self, id: i64) -> Result<CustomerView> {
        get_customer(&mut *self.read.acquire().await?, id).await
    }

    pub(crate) async fn list_outbox(&self, order_id: i64) -> Result<Vec<OutboxRow>> {
        list_outbox(&mut *self.read.acquire().await?, order_id).await
    }

    pub(crate) async fn inbox_counts(&self) -> Result<InboxCounts> {
        inbox_counts(&mut *self.read.acquire().await?).await
    }

    pub(crate) async fn create_api_key(
        &self,
        name: &str,
        scope: &str,
        prefix: &str,
        hash: &str,
        actor: &Actor,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id =
            insert_api_key_audited(&mut tx, name, scope, prefix, hash, actor, Utc::now()).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(crate) async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        find_api_key(&mut *self.read.acquire().await?, hash).await
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub(crate) async fn claim_due_messages(
        &self,
        limit: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<DueMessage>> {
        let mut conn = self.relaxed_connection().await?;
        let mut tx = Self::begin_relaxed(&mut conn).await?;
        release_expired_leases(&mut tx, now).await?;
        let ids = claim_due(&mut tx, limit, now, lease_until).await?;
        tx.commit().await?;
        drop(conn);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        load_due(&mut *self.read.acquire().await?, &ids).await
    }

    pub(crate) async fn record_send_outcomes(
        &self,
        outcomes: &[Outcome],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.relaxed_connection().await?;
        let mut tx = Self::begin_relaxed(&mut conn).await?;
        record_outcomes(&mut tx, outcomes, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn list_messages(&self, order_id: i64) -> Result<Vec<MessageView>> {
        list_messages(&mut *self.read.acquire().await?, order_id).await
    }

    pub(crate) async fn unsubscribe_email(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let customer = unsubscribe_email(&mut tx, token, now).await?;
        tx.commit().await?;
        Ok(customer)
    }

    pub(crate) async fn customer_by_unsubscribe_token(&self, token: &str) -> Result<Option<i64>> {
        customer_by_unsubscribe_token(&mut *self.read.acquire().await?, token).await
    }

    pub(crate) async fn unsubscribe_token(&self, customer_id: i64) -> Result<Option<String>> {
        unsubscribe_token(&mut *self.read.acquire().await?, customer_id).await
    }

    pub(crate) async fn list_customer_messages(
        &self,
        customer_id: i64,
    ) -> Result<Vec<MessageView>> {
        list_customer_messages(&mut *self.read.acquire().await?, customer_id).await
    }

    pub(crate) async fn reroute_expired(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let count = reroute_expired(&mut tx, now).await?;
        tx.commit().await?;
        Ok(count)
    }

    pub(crate) async fn stalled_sends(
        &self,
        channel: &str,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<StalledSend>> {
        stalled_sends(&mut *self.read.acquire().await?, channel, cutoff, limit).await
    }

    pub(crate) async fn reroute_stalled(
        &self,
        id: Uuid,
        channel: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = reroute_stalled(&mut tx, id, channel, reason, now).await?;
        tx.commit().await?;
        Ok(done)
    }

    pub(crate) async fn escalate_unread(
        &self,
        templates: &[String],
        delivered_before: DateTime<Utc>,
        reason: &str,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        let mut tx = self.begin_write().await?;
        let ids = escalate_unread(&mut tx, templates, delivered_before, reason, limit, now).await?;
        tx.commit().await?;
        Ok(ids)
    }

    pub(crate) async fn get_message(&self, id: Uuid) -> Result<MessageView> {
        get_message(&mut *self.read.acquire().await?, id).await
    }

    pub(crate) async fn dead_letters(&self, limit: i64) -> Result<Vec<MessageView>> {
        dead_letters(&mut *self.read.acquire().await?, limit).await
    }

    pub(crate) async fn redrive_message(&self, id: Uuid, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = redrive_audited(&mut tx, id, actor, Utc::now()).await?;
        tx.commit().await?;
        Ok(done)
    }

    pub(crate) async fn queued_counts(&self) -> Result<Vec<(String, i64)>> {
        queued_counts(&mut *self.read.acquire().await?).await
    }

    pub(crate) async fn queued_messages(&self, limit: i64) -> Result<Vec<DueMessage>> {
        queued_messages(&mut *self.read.acquire().await?, limit).await
    }

    pub(crate) async fn message_counts(&self) -> Result<MessageCounts> {
        message_counts(&mut *self.read.acquire().await?).await
    }

    pub(crate) async fn list_inbound(&self, customer_id: i64) -> Result<Vec<InboundView>> {
        list_inbound(&mut *self.read.acquire().await?, customer_id).await
    }

    pub(crate) async fn get_template(&self, key: &str, locale: &str) -> Result<Option<String>> {
        get_template(&mut *self.read.acquire().await?, key, locale).await
    }

    pub(crate) async fn segment_preview(
        &self,
        filter: &insight::segment::Filter,
        minor_per_major: f64,
        sample: i64,
    ) -> Result<SegmentPreview> {
        let ctx = Context {
            now: Utc::now(),
            minor_per_major,
        };
        let compiled = compile(filter, &ctx);
        segment_preview(&mut *self.read.acquire().await?, &compiled, sample).await
    }

    pub(crate) async fn scoring_inputs(&self) -> Result<Vec<ScoringInput>> {
        scoring_inputs(&mut *self.read.acquire().await?).await
    }

    /// Writes scores a few thousand customers per transaction, so that orders and
    /// sends are not held up behind one long write. Scores are recomputed on every run,
    /// so these commits need not wait for the disk.
    pub(crate) async fn save_scores(
        &self,
        scores: &[CustomerScores],
        now: DateTime<Utc>,
    ) -> Result<()> {
        for transaction in scores.chunks(ROWS_PER_STATEMENT * 10) {
            let mut conn = self.relaxed_connection().await?;
            let mut tx = Self::begin_relaxed(&mut conn).await?;
            for chunk in transaction.chunks(ROWS_PER_STATEMENT) {
                save_scores(&mut tx, chunk, now).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub(crate) async fn list_templates(&self) -> Result<Vec<(String, String, String)>> {
        list_templates(&mut *self.read.acquire().await?).await
    }

    pub(crate) async fn put_template(
        &self,
        key: &str,
        locale: &str,
        body: &str,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        put_template_audited(&mut tx, key, locale, body, actor, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn record_consent(
        &self,
        customer_id: i64,
        record: &domain::ConsentRecord,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        get_customer_row_exists(&mut tx, customer_id).await?;
        record_consent_audited(&mut tx, customer_id, record, actor).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn add_user(
        &self,
        email: &str,
        role: &str,
        password_hash: &str,
        actor: &Actor,
    ) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let user = insert_user(&mut tx, email, role, password_hash, actor, Utc::now()).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub(crate) async fn get_user(&self, id: i64) -> Result<User> {
        get_user(&mut *self.read.acquire().await?, id).await
    }

    pub(crate) async fn list_users(&self) -> Result<Vec<User>> {
        list_users(&mut *self.read.acquire().await?).await
    }

    pub(crate) async fn user_credentials(&self, email: &str) -> Result<Option<(User, String)>> {
        user_credentials(&mut *self.read.acquire().await?, email).await
    }

    pub(crate) async fn change_user(
        &self,
        id: i64,
        change: &UserChange<'_>,
        actor: &Actor,
    ) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let user = change_user(&mut tx, id, change, actor, Utc::now()).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub(crate) async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        insert_session(
            &mut tx,
            user_id,
            token_hash,
            csrf_token,
            Utc::now(),
            expires_at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn find_session(&self, token_hash: &str) -> Result<Option<Session>> {
        find_session(&mut *self.read.acquire().await?, token_hash, Utc::now()).await
    }

    pub(crate) async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        delete_session(&mut tx, token_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn list_api_keys(&self) -> Result<Vec<ApiKeyListing>> {
        list_api_keys(&mut *self.read.acquire().await?).await
    }

    pub(crate) async fn revoke_api_key(&self, id: i64, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let revoked = revoke_api_key(&mut tx, id, actor, Utc::now()).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    pub(crate) async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        list_audit(&mut *self.read.acquire().await?, filter).await
    }
}

/// Stores one delivery and applies its command inside a savepoint of `tx`, so that its
/// failure leaves the rest of the transaction intact.
async fn ingest_one_in_savepoint(
    tx: &mut sqlx::Transaction<'static, Db>,
    delivery: &Delivery,
    command: &Command,
    opts: &ApplyOptions,
) -> Result<(Accepted, Applied)> {
    let mut savepoint = tx.begin().await?;
    let result = ingest_in(&mut savepoint, delivery, command, opts).await;
    match result {
        Ok(done) => {
            savepoint.commit().await?;
            Ok(done)
        }
        Err(error) => {
            savepoint.rollback().await?;
            Err(error)
        }
    }
}

async fn ingest_in(
    conn: &mut Conn,
    delivery: &Delivery,
    command: &Command,
    opts: &ApplyOptions,
) -> Result<(Accepted, Applied)> {
    if insert_processed_delivery(conn, delivery, opts.now).await? == Accepted::Duplicate {
        return Ok((Accepted::Duplicate, Applied::default()));
    }
    let applied = apply_command(conn, command, opts).await?;
    Ok((Accepted::New, applied))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
