-- When the grant's latest counted download started: a ranged request (a resume) is free only
-- shortly after it, so `Range: bytes=1-` can't fetch the file again and again past the limit.
alter table download_grant add column last_started_at bigint;
