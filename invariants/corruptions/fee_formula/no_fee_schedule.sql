-- an account's fee schedules deleted
DELETE FROM fee_schedule WHERE account_id = (SELECT min(account_id) FROM {{order_fill}});
