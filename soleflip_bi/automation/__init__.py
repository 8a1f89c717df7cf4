"""What replaces pg_cron and the hand-called sync endpoints: jobs, schedules, sensors."""
