//! "Download your data": one zip of JSON and CSV with what Clink holds about the signed-in
//! account: its profile, its works (with each file's SHA-256), its sales, its purchases, its
//! wallet history and every ledger line on its accounts. Each file is encoded first (the sales
//! read a page at a time); the zip is then compressed as it is sent (a streaming zip needs no
//! seeking), so the archive itself is never held whole.

use std::io::Write;

use app::{
    accounts::{session, store as accounts},
    catalog::store as catalog,
    checkout::store as orders,
    db::Db,
    earnings::stats,
    error::{AppError, internal},
    ledger::store as ledger,
    money::{Currency, Money},
    state::AppState,
};
use axum::{
    Router,
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use serde_json::json;
use tower_sessions::Session;

pub fn router() -> Router<AppState> {
    Router::new().route("/settings/export.zip", get(export))
}

async fn export(State(state): State<AppState>, session: Session) -> Response {
    let Some(account_id) = session::signed_in_account_id(&session, &state.db).await else {
        return super::redirect_to("/login?next=/settings%23data").into_response();
    };
    let parts = match gather(&state.db, &account_id).await {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let failed = sender.clone();
        if let Err(e) = write_zip(parts, ChannelWriter(sender)) {
            tracing::warn!(error = %e, "data export cut short");
            let _ = failed.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|chunk| (chunk, r)) });
    let date = stats::iso(app::db::now_ms()).chars().take(10).collect::<String>();
    (
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"clink-data-{date}.zip\"")),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The export's files, each already encoded.
async fn gather(db: &Db, account_id: &str) -> Result<Vec<(&'static str, Vec<u8>)>, AppError> {
    let db_err = |e: sqlx::Error| internal("data export", &e);
    let me = accounts::find_by_id(db, account_id).await.map_err(db_err)?.ok_or(AppError::Unauthorized)?;
    let profile = json!({
        "account_id": me.account_id,
        "email": me.email,
        "email_confirmed_at": me.email_verified_at.map(stats::iso),
        "handle": me.handle,
        "display_name": me.display_name,
        "bio": me.bio,
        "links": me.links.lines().collect::<Vec<_>>(),
        "accent_color": me.accent_color,
        "sells": me.sells,
        "created_at": stats::iso(me.created_at),
    });

    let works = catalog::list_owned(db, account_id).await.map_err(db_err)?;
    let files = catalog::files_of_creator(db, account_id).await.map_err(db_err)?;
    let works: Vec<_> = works
        .iter()
        .map(|w| {
            json!({
                "work_id": w.work_id,
                "title": w.title,
                "description": w.description_md,
                "price": w.price().label(),
                "link_code": w.code,
                "slug": w.slug,
                "published": w.published,
                "created_at": stats::iso(w.created_at),
                "files": files.iter().filter(|f| f.work_id == w.work_id).map(|f| json!({
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size_bytes": f.size_bytes,
                    "sha256": f.sha256,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();

    let verified = me.email_verified_at.is_some().then_some(me.email.as_str());
    let bought = orders::orders_of_buyer(db, account_id, verified).await.map_err(db_err)?;
    let mut purchases = csv::Writer::from_writer(Vec::new());
    let _ = purchases.write_record(["order_id", "date", "work_id", "amount", "currency", "status", "paid_with"]);
    for o in &bought {
        let _ = purchases.write_record([
            o.order_id.clone(),
            stats::iso(o.created_at),
            o.work_id.clone(),
            Money::new(o.amount_minor, o.currency).decimal(),
            o.currency.code().to_string(),
            o.status.to_string(),
            o.provider.to_string(),
        ]);
    }

    let mut lines = csv::Writer::from_writer(Vec::new());
    let _ = lines.write_record(["date", "transaction_id", "kind", "order_or_payout", "memo", "account", "amount", "currency"]);
    for l in ledger::lines_of_owner(db, account_id).await.map_err(db_err)? {
        let currency = Currency::parse(&l.currency).unwrap_or(Currency::Eur);
        let _ = lines.write_record([
            stats::iso(l.created_at),
            l.txn_id,
            l.txn_kind,
            l.order_id.unwrap_or_default(),
            l.memo,
            l.account_kind,
            Money::new(l.amount_minor, currency).decimal(),
            l.currency,
        ]);
    }

    let readme = "Your data at Clink, as of this file's date.\n\n\
        profile.json    your account and public profile\n\
        works.json      your works and their files (name, type, size, SHA-256)\n\
        sales.csv       every sale of your works\n\
        purchases.csv   what you bought\n\
        wallet.csv      your wallet's movements, with the running balance\n\
        ledger.csv      every ledger line on your accounts (wallet, earnings, payouts)\n";
    Ok(vec![
        ("README.txt", readme.as_bytes().to_vec()),
        ("profile.json", serde_json::to_vec_pretty(&profile).unwrap_or_default()),
        ("works.json", serde_json::to_vec_pretty(&works).unwrap_or_default()),
        ("sales.csv", super::earnings::sales_csv_bytes(db, account_id, 0, i64::MAX, None).await?),
        ("purchases.csv", purchases.into_inner().unwrap_or_default()),
        ("wallet.csv", super::wallet::wallet_history_csv(db, account_id).await?),
        ("ledger.csv", lines.into_inner().unwrap_or_default()),
    ])
}

fn write_zip(parts: Vec<(&'static str, Vec<u8>)>, out: ChannelWriter) -> zip::result::ZipResult<()> {
    // Buffered, so the body gets chunks of 64 KiB rather than one per zip header field.
    let mut zip = zip::ZipWriter::new_stream(std::io::BufWriter::with_capacity(64 * 1024, out));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in parts {
        zip.start_file(name, options)?;
        zip.write_all(&data)?;
    }
    zip.finish()?.into_inner().flush()?;
    Ok(())
}

/// The response body's end of the zip: each write goes out as a chunk (waiting while the
/// client is slower than the zip).
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(Ok(Bytes::copy_from_slice(buf))).map_err(|_| std::io::Error::other("the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
